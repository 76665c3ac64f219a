"""Which SDK failures are transient, decided on real botocore errors from real clients."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from proctoring.aws_errors import transient_reason

CALLS = {
    "s3": lambda client: client.head_object(Bucket="b", Key="images/e/u/c.jpg"),
    "rekognition": lambda client: client.detect_labels(Image={"Bytes": b"\xff\xd8"}),
    "dynamodb": lambda client: client.get_item(TableName="t", Key={"pk": {"S": "e#u"}}),
}


def raised(call, client) -> BaseException:
    with pytest.raises(Exception) as error:
        call(client)
    return error.value


@pytest.mark.parametrize("service", sorted(CALLS))
@pytest.mark.parametrize(
    ("endpoint", "error_name"), [("refused", "EndpointConnectionError"), ("silent", "ReadTimeout")]
)
def test_no_answer_at_all_is_transient(unreachable_aws, service, endpoint, error_name):
    exc = raised(CALLS[service], unreachable_aws(service, endpoint))
    assert not isinstance(exc, ClientError)
    assert transient_reason(exc).startswith(error_name)


def client_error(code: str, status: int) -> ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "DetectFaces")


@pytest.mark.parametrize(
    ("code", "status", "codes", "expected"),
    [
        ("ThrottlingException", 400, {"ThrottlingException"}, "ThrottlingException"),  # listed
        ("InternalFailure", 500, set(), "InternalFailure"),  # any 5xx
        ("", 503, set(), "HTTP 503"),  # a 5xx without a code still says what it was
        ("AccessDeniedException", 403, {"ThrottlingException"}, None),  # would fail the same way again
        ("ThrottlingException", 400, set(), None),  # only the caller's codes count
    ],
)
def test_client_errors_are_transient_when_listed_or_5xx(code, status, codes, expected):
    assert transient_reason(client_error(code, status), codes) == expected


def test_errors_from_outside_the_sdk_are_not_transient():
    assert transient_reason(ValueError("bad image")) is None
