"""The labelled sets that ``proctoring accuracy`` measures: sources (real photos), conditions (webcam
like changes), cases (the set), pose (head-pose error) and scoring."""
