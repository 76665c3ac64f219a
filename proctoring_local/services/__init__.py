"""What the commands share: run folders and buckets, the local run, verdicts and their pages, the
labelled sets, and the measurements behind bench, load, cost, burst and rescore."""
