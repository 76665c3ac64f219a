"""The audit record is append-only: the template locks it and denies changes; moto enforces the lock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from proctoring.audit import AuditLog, entry_key, operation_entry
from proctoring.storage import S3Storage
from proctoring_local.stand_ins import template as tpl
from proctoring_local.stand_ins.stack import AUDIT_BUCKET, create_audit_bucket

CHANGES = {
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectLegalHold",
}


def test_the_template_locks_the_audit_bucket_for_its_retention():
    template = tpl.load_template()
    bucket = template["Resources"]["AuditBucket"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    retention = bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention == {"Mode": "COMPLIANCE", "Days": {"Ref": "AuditRetentionDays"}}
    parameter = template["Parameters"]["AuditRetentionDays"]
    assert parameter["Default"] == 183 and parameter["MinValue"] >= 183  # six months at least (Art. 26(6))
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (expiry,) = [rule for rule in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in rule]
    assert expiry["ExpirationInDays"] == {"Ref": "AuditRetentionDays"}
    assert template["Resources"]["AuditBucket"]["DeletionPolicy"] == "Retain"


def test_no_role_may_change_or_delete_an_audit_entry():
    template = tpl.load_template()
    statements = template["Resources"]["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Sid"] == "DenyChangingEntries"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert set(deny["Action"]) >= CHANGES
    # And no role of the stack is granted anything on the audit bucket but PutObject.
    text = json.dumps(template["Resources"])
    assert text.count("AuditBucket.Arn}/audit/*") >= 3
    for name, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "AuditBucket" in json.dumps(statement.get("Resource", "")):
                    assert statement["Action"] == "s3:PutObject", name


@mock_aws
def test_a_locked_entry_cannot_be_deleted_and_a_repeat_adds_nothing():
    s3 = boto3.client("s3", region_name="us-east-1")
    create_audit_bucket(s3)
    audit = AuditLog(S3Storage(s3), AUDIT_BUCKET)
    entry = operation_entry("pause", "proctor", {"bucket": "captures"})
    key = audit.record(entry)
    assert audit.record(entry) == key == entry_key(entry)
    versions = s3.list_object_versions(Bucket=AUDIT_BUCKET)["Versions"]
    assert len(versions) == 1  # written create-only: the repeat made no second version
    version = versions[0]["VersionId"]
    head = s3.head_object(Bucket=AUDIT_BUCKET, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=182)

    with pytest.raises(ClientError) as deleted:
        s3.delete_object(Bucket=AUDIT_BUCKET, Key=key, VersionId=version)
    assert deleted.value.response["Error"]["Code"] == "AccessDenied"
    # moto does not refuse a shortened compliance retention (S3 does); the template's deny covers it above.
    assert json.loads(s3.get_object(Bucket=AUDIT_BUCKET, Key=key, VersionId=version)["Body"].read()) == entry
