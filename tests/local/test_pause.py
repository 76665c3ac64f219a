"""proctoring pause|resume s3://BUCKET in moto: the capture rule switched off and on, and what was
uploaded meanwhile judged on resume. moto's EventBridge neither honours a rule's state nor targets
Step Functions, so ``deliver`` does what EventBridge does: a matching event, to an enabled rule's
state machine."""

from __future__ import annotations

import json

import boto3

from proctoring_local.__main__ import main
from proctoring_local.stand_ins.events import UploadRule
from proctoring_local.stand_ins.stack import AUDIT_BUCKET
from proctoring_local.stand_ins.template import upload_rule_pattern
from tests.builders import BUCKET, OK_ANSWERS, synthetic_jpeg

RULE = "proctoring-CaptureUploaded"


def test_no_judgement_while_paused_and_every_missed_capture_judged_on_resume(make_aws_pipeline, capsys):
    pipeline = make_aws_pipeline()
    events = boto3.client("events", region_name="us-east-1")
    events.put_rule(Name=RULE, EventPattern=json.dumps(upload_rule_pattern(BUCKET)), State="ENABLED")
    events.put_targets(Rule=RULE, Targets=[{"Id": "judge", "Arn": pipeline.sfn.state_machine_arn}])
    rule = UploadRule(BUCKET)

    def deliver(event):
        if events.describe_rule(Name=RULE)["State"] == "ENABLED" and rule.matches(event):
            return pipeline.sfn.run(event)
        return None

    def executions():
        return pipeline.sfn.client.list_executions(stateMachineArn=pipeline.sfn.state_machine_arn)["executions"]

    pipeline.reference("ana", synthetic_jpeg(500))
    key = "images/exam1/ana/capture_{:03d}.jpg"
    assert deliver(pipeline.upload(key.format(0), synthetic_jpeg(0), **OK_ANSWERS)).status == "SUCCEEDED"

    assert main(["pause", f"s3://{BUCKET}", "--by", "chief proctor"]) == 0
    assert events.describe_rule(Name=RULE)["State"] == "DISABLED"
    for index in (1, 2):
        assert deliver(pipeline.upload(key.format(index), synthetic_jpeg(index), **OK_ANSWERS)) is None
    assert len(executions()) == 1
    assert pipeline.result_keys() == ["results/exam1/ana/capture_000.json"]

    assert main(["resume", f"s3://{BUCKET}", "--by", "chief proctor"]) == 0
    assert "2 capture(s) uploaded meanwhile" in capsys.readouterr().out
    assert events.describe_rule(Name=RULE)["State"] == "ENABLED"
    for execution in executions():
        assert pipeline.sfn.wait(execution["executionArn"]).status == "SUCCEEDED"
    assert len(executions()) == 3
    assert pipeline.result_keys() == [f"results/exam1/ana/capture_{i:03d}.json" for i in range(3)]
    assert {pipeline.result(f"results/exam1/ana/capture_{i:03d}.json")["status"] for i in range(3)} == {"OK"}

    listed = pipeline.s3.list_objects_v2(Bucket=AUDIT_BUCKET, Prefix="audit/operations/")["Contents"]
    kinds = sorted(
        json.loads(pipeline.s3.get_object(Bucket=AUDIT_BUCKET, Key=item["Key"])["Body"].read())["kind"]
        for item in listed
    )
    assert kinds == ["pause", "resume"]


def test_pause_names_what_is_missing(make_aws_pipeline, capsys):
    make_aws_pipeline()
    assert main(["pause", f"s3://{BUCKET}", "--by", "x"]) == 2
    assert "no EventBridge rule start judgements" in capsys.readouterr().err
