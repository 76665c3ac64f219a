"""template.yaml and the ASL agree with each other and with the rules the project promises."""

from __future__ import annotations

import json
import re

import pytest

from proctoring_local.stand_ins import template as tpl
from proctoring_local.stand_ins.events import UploadRule, object_created_event

LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
CAUGHT = {
    "ParseKey",
    "CheckReference",
    "CompareAndDetectLabels",
    "DetectFaces",
    "DetectFacesAndLabels",
    "DecideVerdict",
}


@pytest.fixture(scope="module")
def template():
    return tpl.load_template()


@pytest.fixture(scope="module")
def definition():
    return json.loads(tpl.DEFINITION.read_text())


def test_every_placeholder_has_a_substitution_and_back(template, definition):
    placeholders = set(re.findall(r"\$\{(\w+)\}", tpl.DEFINITION.read_text()))
    substitutions = template["Resources"]["ProctoringStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)


def test_one_function_per_step_each_with_its_handler_and_event(template):
    steps = tpl.step_functions()
    assert {step["resource"] for step in steps.values()} == {
        "ParseKeyFunction",
        "CheckReferenceFunction",
        "DetectFacesFunction",
        "CompareToReferenceFunction",
        "DetectLabelsFunction",
        "DecideVerdictFunction",
        "RecordFailureFunction",
        "PersistResultFunction",
        "NotifyFunction",
    }
    for step in steps.values():
        code_dir = tpl.ROOT / step["code_dir"]
        assert (code_dir / "app.py").is_file()
        event = tpl.ROOT / "events" / f"{code_dir.name}.json"
        assert event.is_file(), f"no sam local invoke event for {code_dir.name}"
        json.loads(event.read_text())


def test_handlers_share_one_package_and_copy_nothing():
    for app in (tpl.ROOT / "functions").glob("*/app.py"):
        assert len(app.read_text().splitlines()) < 80, f"{app} is not a thin handler"
        assert not list(app.parent.glob("*.py"))[1:], f"{app.parent} holds more than its handler"


def test_every_task_retries_lambda_service_errors(definition):
    for name, state in tpl.all_states(definition):
        if state["Type"] == "Task":
            retried = set().union(*(set(r["ErrorEquals"]) for r in state.get("Retry", [])))
            assert retried >= LAMBDA_ERRORS, name


def test_every_task_outlasts_lambda_throttling_at_an_exams_start(definition):
    # A small account's concurrency (new accounts may get 10) throttles invokes when every student
    # uploads at once; the default Lambda retrier's 3 tries in ~7 s would turn that into ERROR
    # documents, or lose the document when PersistResult itself is the one throttled.
    for name, state in tpl.all_states(definition):
        if state["Type"] == "Task":
            retry = next(r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"])
            waits = sum(
                min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"])
                for n in range(retry["MaxAttempts"])
            )
            assert waits >= 300 and retry["JitterStrategy"] == "FULL", name


def test_analysis_steps_retry_throttling_with_backoff(definition):
    states = dict(tpl.all_states(definition))
    for name in (
        "CheckReference",
        "DetectFaces",
        "CompareToReference",
        "DetectLabels",
        "DetectCaptureFaces",
        "DetectCaptureLabels",
    ):
        retry = next(r for r in states[name]["Retry"] if "RekognitionThrottled" in r["ErrorEquals"])
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3


def test_execution_timeout_outlasts_every_retry_budget(template, definition):
    """The execution timeout only catches a stuck execution: it exceeds the worst case of every Task
    run one after the other (each retrier's attempts at the function's timeout, plus its waits)."""
    functions = tpl.step_functions()
    default_timeout = template["Globals"]["Function"]["Timeout"]
    worst, tasks = 0.0, 0
    for _name, state in tpl.all_states(definition):
        if state["Type"] != "Task":
            continue
        tasks += 1
        resource = functions[re.fullmatch(r"\$\{(\w+)\}", state["Resource"]).group(1)]["resource"]
        timeout = template["Resources"][resource]["Properties"].get("Timeout", default_timeout)
        attempts, waits = 1, 0.0
        for retry in state.get("Retry", []):
            interval, rate = retry.get("IntervalSeconds", 1), retry.get("BackoffRate", 2.0)
            cap = retry.get("MaxDelaySeconds", float("inf"))
            if retry["ErrorEquals"] != ["Lambda.TooManyRequestsException"]:  # a throttled invoke never ran
                attempts += retry.get("MaxAttempts", 3)
            waits += sum(min(interval * rate**n, cap) for n in range(retry.get("MaxAttempts", 3)))
        worst += attempts * timeout + waits
    assert tasks == 13
    assert definition["TimeoutSeconds"] > worst, f"worst case {worst / 60:.0f} min"


def test_in_progress_retries_outlast_the_timeout_of_each_idempotent_step(definition):
    # A record left in progress by a step that died expires after its function's timeout; the
    # retries on IdempotencyAlreadyInProgressError must wait at least that long in all.
    timeouts = {step["resource"]: step["timeout"] for step in tpl.step_functions().values()}
    for state, function in (("DecideVerdict", "DecideVerdictFunction"), ("Notify", "NotifyFunction")):
        (retrier,) = [
            r for r in definition["States"][state]["Retry"] if "IdempotencyAlreadyInProgressError" in r["ErrorEquals"]
        ]
        waits = [retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n for n in range(retrier["MaxAttempts"])]
        assert sum(waits) > timeouts[function], (state, waits, timeouts[function])


def test_analysis_steps_catch_into_the_error_document_path(definition):
    states = definition["States"]
    for name in CAUGHT:
        catch = states[name]["Catch"]
        # ParseKey first sends an input that is no upload event (started by hand) to its own Fail,
        # and any other failure by way of ParseKeyFailed, which adds the settings ParseKey's output has.
        first = [{"ErrorEquals": ["InvalidEvent"], "ResultPath": "$.error", "Next": "NotAnUploadEvent"}]
        then = "ParseKeyFailed" if name == "ParseKey" else "RecordFailure"
        assert catch == (first if name == "ParseKey" else []) + [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": then}
        ], name
    assert states["ParseKeyFailed"]["Next"] == "RecordFailure"
    assert states["ParseKeyFailed"]["Parameters"]["settings"] == states["ParseKey"]["ResultSelector"]["settings"]
    assert states["RecordFailure"]["Next"] == "IsWebhookConfigured"
    assert states["ProcessingFailed"]["Type"] == "Fail"
    assert (states["NotAnUploadEvent"]["Type"], states["NotAnUploadEvent"]["Error"]) == ("Fail", "InvalidEvent")


def test_compare_and_labels_run_in_parallel(definition):
    parallel = definition["States"]["CompareAndDetectLabels"]
    assert parallel["Type"] == "Parallel"
    assert [branch["StartAt"] for branch in parallel["Branches"]] == ["CompareToReference", "DetectLabels"]


def test_definition_stays_on_jsonpath(definition):
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state in tpl.all_states(definition):
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name


def test_state_machine_is_standard_traced_and_logs_no_execution_data(template):
    props = template["Resources"]["ProctoringStateMachine"]["Properties"]
    assert props["Type"] == "STANDARD"
    assert props["Tracing"]["Enabled"] is True
    assert props["Logging"]["IncludeExecutionData"] is False


def test_required_parameters_and_defaults(template):
    params = template["Parameters"]
    expected = {
        "MinConfidence": 75,
        "MaxLabels": 10,
        "ImagesPrefix": "images",
        "ReferencePrefix": "reference",
        "ResultsPrefix": "results",
        "ProctoringWebhookUrl": "",
        "BucketName": "",
        "CaptureRetentionDays": 30,
    }
    for name, default in expected.items():
        assert params[name]["Default"] == default, name


def iam_statements(template):
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    if isinstance(statement, dict) and "Fn::If" in statement:
                        statement = statement["Fn::If"][1]
                    yield name, statement


def test_no_wildcard_actions(template):
    for name, statement in iam_statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{name}: {action}"


# Who may write where, and who may read captures and results: each step its own prefixes only.
S3_WRITES = {
    "PersistResultFunction": {"${ResultsPrefix}"},
    "NotifyFunction": {"${ResultsPrefix}"},  # it records the delivery in the document
    "DecideVerdictFunction": {"analyses", "audit"},  # each capture's analysis, for re-scores; its verdict audited
    "RecordFailureFunction": {"audit"},
    "ApplyDecisionFunction": {"${ResultsPrefix}", "audit"},  # the decision added to the document, and audited
    "CheckReferenceFunction": {"reference-checks"},
    "LoadAnalysisFunction": {"reference-checks"},  # a reference never checked yet, checked there
    "SummariseRescoreFunction": {"rescores"},
    "RescoreStateMachine": {"rescores"},  # the Distributed Map's ResultWriter
}
S3_READS = {
    "${ImagesPrefix}": {
        "ParseKeyFunction",
        "DetectFacesFunction",
        "CompareToReferenceFunction",
        "DetectLabelsFunction",
        "LoadAnalysisFunction",
        "ApplyDecisionFunction",  # a decision about a capture that does not exist is refused
    },
    "${ResultsPrefix}": {
        "PersistResultFunction",
        "NotifyFunction",
        "LoadAnalysisFunction",
        "SummariseRescoreFunction",
        "ApplyDecisionFunction",
    },
}


def _prefixes(resources: str) -> set[str]:
    return set(re.findall(r"\$\{(?:Bucket|AuditBucket\.Arn)\}/([^/\"*]+)/?\*", resources))


def test_s3_access_is_scoped_to_the_prefixes_each_step_needs(template):
    for name, statement in iam_statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        prefixes = _prefixes(json.dumps(statement["Resource"]))
        if "s3:PutObject" in actions:
            assert prefixes and prefixes <= S3_WRITES.get(name, set()), (name, prefixes)
        if "s3:GetObject" in actions:
            for prefix, readers in S3_READS.items():
                assert prefix not in prefixes or name in readers, (name, prefix)


def test_only_notify_reads_the_webhook_secret_from_the_store_it_was_given(template):
    readers = {
        (name, statement["Sid"], json.dumps(statement["Resource"]).replace("${AWS::", "${"))
        for name, statement in iam_statements(template)
        if any(
            action.startswith(("ssm:", "secretsmanager:"))
            for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        )
    }
    assert readers == {
        (
            "NotifyFunction",
            "ReadWebhookSecret",
            '{"Fn::Sub": "arn:${Partition}:ssm:${Region}:${AccountId}:parameter${WebhookSecretParameter}"}',
        ),
        ("NotifyFunction", "ReadWebhookSecretFromSecretsManager", '{"Ref": "WebhookSecretArn"}'),
        (
            "NotifyDecisionFunction",
            "ReadWebhookSecret",
            '{"Fn::Sub": "arn:${Partition}:ssm:${Region}:${AccountId}:parameter${WebhookSecretParameter}"}',
        ),
        ("NotifyDecisionFunction", "ReadWebhookSecretFromSecretsManager", '{"Ref": "WebhookSecretArn"}'),
    }
    # Each grant exists only when its parameter is set; the function is told which one to read.
    statements = template["Resources"]["NotifyFunction"]["Properties"]["Policies"][0]["Statement"]
    conditions = [statement["Fn::If"][0] for statement in statements if "Fn::If" in statement]
    assert conditions == ["HasBucketKmsKey", "HasWebhookSecretParameter", "HasWebhookSecretArn"]
    variable = template["Resources"]["NotifyFunction"]["Properties"]["Environment"]["Variables"]
    assert variable["WEBHOOK_SECRET_PARAMETER"] == {
        "Fn::If": ["HasWebhookSecretArn", {"Ref": "WebhookSecretArn"}, {"Ref": "WebhookSecretParameter"}]
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:proctoring/webhook-AbCdEf", True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:hook-AbCdEf", True),
        ("proctoring/webhook", False),  # a name: the grant needs the complete ARN
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:proctoring/webhook", False),  # partial ARN
        ("arn:aws:ssm:eu-west-1:123456789012:parameter/proctoring/webhook", False),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:*", False),  # no wildcards in the grant
    ],
)
def test_webhook_secret_arn_parameter_accepts_full_secret_arns_only(template, value, accepted):
    pattern = template["Parameters"]["WebhookSecretArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),  # no webhook
        ("https://proctor.example.edu/hooks/verdicts", True),
        ("https://proctor.example.edu:8443/hooks?tenant=7", True),
        ("https://user:token@proctor.example.edu/hook", False),  # credentials in plain text
        ("https://token@proctor.example.edu/hook", False),
        ("https://proctor.example.edu/hook?from=a@b.example", True),
        ("http://proctor.example.edu/hook", False),  # https only on AWS
        ("https://proctor.example.edu:notaport/hook", False),
        ("https:///hook", False),  # no host
        ("proctor.example.edu/hook", False),
        ("https://proctor.example.edu/a hook", False),
    ],
)
def test_webhook_url_parameter_accepts_https_urls_with_a_host(template, value, accepted):
    pattern = template["Parameters"]["ProctoringWebhookUrl"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


@pytest.mark.parametrize("parameter", ["ImagesPrefix", "ReferencePrefix", "ResultsPrefix"])
@pytest.mark.parametrize(
    ("value", "accepted"),
    [("images", True), ("exam-captures_2026", True), ("v1.2", True), ("..", False), (".", False), ("a/b", False)],
)
def test_prefix_parameters_are_one_folder_name(template, parameter, value, accepted):
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


def test_a_webhook_needs_exactly_one_secret_source(template):
    rules = template["Rules"]
    needs = json.dumps(rules["WebhookNeedsSecret"])
    assert "WebhookSecretParameter" in needs and "WebhookSecretArn" in needs
    assert rules["WebhookNeedsSecret"]["RuleCondition"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProctoringWebhookUrl"}, ""]}]
    }
    either_empty = rules["OneWebhookSecret"]["Assertions"][0]["Assert"]["Fn::Or"]
    assert {json.dumps(check) for check in either_empty} == {
        json.dumps({"Fn::Equals": [{"Ref": "WebhookSecretParameter"}, ""]}),
        json.dumps({"Fn::Equals": [{"Ref": "WebhookSecretArn"}, ""]}),
    }


def test_bucket_is_private_encrypted_versioned_tls_only_and_expires_captures(template):
    resources = template["Resources"]
    bucket = resources["CaptureBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    expire = next(rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule["Id"] == "ExpireCaptures")
    assert expire["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert expire["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    markers = next(rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule.get("ExpiredObjectDeleteMarker"))
    assert markers["Prefix"] == expire["Prefix"]
    statement = resources["CaptureBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("key", "matches"),
    [
        ("images/exam_123/user_456/capture_001.jpg", True),
        ("images/x.jpg", True),
        ("results/exam_123/user_456/capture_001.json", False),
        ("reference/user_456.jpg", False),
    ],
)
def test_upload_rule_matches_captures_only(key, matches):
    rule = UploadRule("my-bucket")
    assert rule.matches(object_created_event("my-bucket", key, size=1, etag="e")) is matches
    assert rule.matches(object_created_event("other-bucket", key, size=1, etag="e")) is False


def test_the_sample_event_matches_the_upload_rule():
    event = json.loads((tpl.ROOT / "events" / "s3_object_created.json").read_text())
    assert UploadRule(event["detail"]["bucket"]["name"]).matches(event)


def test_undeliverable_events_go_to_a_dead_letter_queue(template):
    rule = template["Resources"]["ProctoringStateMachine"]["Properties"]["Events"]["CaptureUploaded"]["Properties"]
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["UploadEventsDeadLetterQueue", "Arn"]}}
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] > 0
    policy = template["Resources"]["UploadEventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


def test_alarms_cover_failed_executions_undelivered_uploads_and_failed_webhooks(template):
    resources = template["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"FailedExecutionsAlarm", "UndeliveredUploadsAlarm", "WebhookFailuresAlarm"}
    notify_topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == notify_topic, name
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching", name

    executions = {m["Id"]: m for m in alarms["FailedExecutionsAlarm"]["Metrics"]}
    for metric_id, metric_name in {"failed": "ExecutionsFailed", "timedout": "ExecutionsTimedOut"}.items():
        stat = executions[metric_id]["MetricStat"]["Metric"]
        assert stat["MetricName"] == metric_name
        assert stat["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "ProctoringStateMachine"}}]
    assert [m["Id"] for m in executions.values() if m["ReturnData"]] == ["notsucceeded"]

    dimensions = alarms["UndeliveredUploadsAlarm"]["Dimensions"]
    assert dimensions == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["UploadEventsDeadLetterQueue", "QueueName"]}}]

    # The webhook alarm selects the metric PersistResult emits, under the namespace and service the
    # functions are configured with (tests/unit/test_handlers.py checks the emitted metric).
    webhook = alarms["WebhookFailuresAlarm"]
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert resources["WebhookFailuresAlarm"]["Condition"] == "HasWebhook"
    assert webhook["MetricName"] == "WebhookFailed"
    assert webhook["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert webhook["Dimensions"] == [{"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}]


def test_logs_have_a_retention_period(template):
    resources = template["Resources"]
    assert template["Globals"]["Function"]["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionsLogGroup"}
    for name in ("FunctionsLogGroup", "StateMachineLogGroup"):
        assert resources[name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_checkov_suppression_gives_its_reason(template):
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 20, name


def test_an_existing_buckets_kms_key_is_usable_through_s3_by_the_steps_that_need_it(template):
    grants = {}
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "Fn::If" not in statement or statement["Fn::If"][0] != "HasBucketKmsKey":
                    continue
                _condition, granted, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                assert granted["Resource"] == {"Ref": "BucketKmsKeyArn"}
                via = granted["Condition"]["StringEquals"]["kms:ViaService"]
                assert via == {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}
                grants[name] = granted["Action"]
    assert grants == {
        "ParseKeyFunction": "kms:Decrypt",  # the reference checks
        "CheckReferenceFunction": ["kms:Decrypt", "kms:GenerateDataKey"],
        "NotifyFunction": ["kms:GenerateDataKey", "kms:Decrypt"],
        "DecideVerdictFunction": "kms:GenerateDataKey",  # the analyses it keeps
        "LoadAnalysisFunction": ["kms:Decrypt", "kms:GenerateDataKey"],
        "SummariseRescoreFunction": ["kms:Decrypt", "kms:GenerateDataKey"],
        "RescoreStateMachine": ["kms:GenerateDataKey", "kms:Decrypt"],
        "DetectFacesFunction": "kms:Decrypt",
        "CompareToReferenceFunction": "kms:Decrypt",
        "DetectLabelsFunction": "kms:Decrypt",
        "PersistResultFunction": ["kms:GenerateDataKey", "kms:Decrypt"],
        "ApplyDecisionFunction": ["kms:GenerateDataKey", "kms:Decrypt"],  # decisions, captures, results
    }
    assert template["Conditions"]["HasBucketKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BucketKmsKeyArn"}, ""]}]}
    rule = template["Rules"]["KmsKeyIsForAnExistingBucket"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "UseExistingBucket"}, "true"]}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        ("alias/proctoring", False),  # an alias: key policies and grants name the key itself
        ("arn:aws:kms:eu-west-1:123456789012:alias/proctoring", False),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
        ("arn:aws:kms:eu-west-1:123456789012:key/*", False),
    ],
)
def test_bucket_kms_key_parameter_accepts_key_arns_only(template, value, accepted):
    pattern = template["Parameters"]["BucketKmsKeyArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted
