"""Every AWS client the steps make, in one place, with timeouts that leave the retries to the
state machine.

Without them botocore waits 60 s to connect and 60 s per read, longer than a step's whole time
(30 s, Notify 20 s): a call that hangs would end the invocation as ``Sandbox.Timedout`` instead of
failing fast as a retryable error. With them a call's worst case, connect and read timeouts times
the SDK's attempts, is at most a third of the shortest step that makes it, so a hung call fails as
``StorageUnavailable``/``AnalyzerUnavailable`` inside the invocation and the ASL's Retry repeats it.
S3 and Rekognition make one attempt (the state machine's retries are the only ones); DynamoDB
and the parameter store keep the SDK's few quick retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientTimeouts:
    connect: float  # seconds to open a connection
    read: float  # seconds to wait for each read of the answer
    attempts: int  # the SDK's attempts in all (1: no SDK retry)

    @property
    def worst_case(self) -> float:
        return (self.connect + self.read) * self.attempts


TIMEOUTS = {
    "s3": ClientTimeouts(connect=2, read=4, attempts=1),
    "rekognition": ClientTimeouts(connect=2, read=6, attempts=1),
    "dynamodb": ClientTimeouts(connect=1, read=1, attempts=3),
    "ssm": ClientTimeouts(connect=1, read=2, attempts=2),
    "secretsmanager": ClientTimeouts(connect=1, read=2, attempts=2),
}


def config(service: str) -> Any:
    """The botocore ``Config`` of ``service``'s clients."""
    from botocore.config import Config

    timeouts = TIMEOUTS[service]
    return Config(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
    )


def client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=config(service))
