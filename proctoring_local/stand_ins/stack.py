"""The stack's stores as template.yaml declares them, made in moto: what the AWS-shaped local runs
(the tests, ``proctoring cost``) need before the first execution."""

from __future__ import annotations

from typing import Any

# The bucket a run folder stands in for, in the documents and events of a local run.
LOCAL_BUCKET = "local-proctoring"


def create_tables(dynamodb: Any) -> tuple[str, str]:
    """The two tables with the key schemas template.yaml declares."""
    dynamodb.create_table(
        TableName="alert-history",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.create_table(
        TableName="idempotency",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return "alert-history", "idempotency"


def create_bucket(s3: Any, bucket: str) -> None:
    """The capture bucket: versioned, as the stack makes it (PersistResult's ordering reads versions)."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


AUDIT_BUCKET = "proctoring-audit"


def create_audit_bucket(s3: Any, bucket: str = AUDIT_BUCKET, days: int = 183) -> None:
    """The audit bucket as template.yaml makes it: Object Lock, compliance mode, ``days`` by default."""
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": days}},
        },
    )


def aws_environment(s3: Any, dynamodb: Any, bucket: str, webhook_url: str = "", secret: str = "") -> dict[str, str]:
    """Make the bucket and the tables, and return the steps' environment that uses them: S3 storage,
    Rekognition as the analyzer, DynamoDB for the alert history and idempotency."""
    create_bucket(s3, bucket)
    create_audit_bucket(s3)
    alert_table, idempotency_table = create_tables(dynamodb)
    return {
        "STORAGE": "s3",
        "CAPTURE_BUCKET": bucket,
        "AUDIT_BUCKET": AUDIT_BUCKET,
        "ANALYZER": "rekognition",
        "ALERT_HISTORY": "dynamodb",
        "ALERT_TABLE": alert_table,
        "IDEMPOTENCY_STORE": "dynamodb",
        "IDEMPOTENCY_TABLE": idempotency_table,
        "WEBHOOK_URL": webhook_url,
        "WEBHOOK_SECRET": secret if webhook_url else "",
        "WEBHOOK_ALLOW_HTTP": "true",
    }
