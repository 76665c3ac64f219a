"""proctoring run --analyzer rekognition: the checks before any capture is sent, and where calls go."""

from __future__ import annotations

import pytest

from proctoring_local.__main__ import main
from tests.builders import synthetic_jpeg
from tests.fakes import RekognitionEndpoint

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "none were found"),
        ({"AWS_PROFILE": "no-such-profile"}, "cannot read AWS credentials"),
    ],
)
def test_rekognition_without_credentials_stops_before_any_capture(exam, capsys, monkeypatch, environment, message):
    for name in (*CREDENTIAL_VARIABLES, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(exam / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(exam / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (exam / "results").exists()


@pytest.fixture
def aws_profile(tmp_path, monkeypatch):
    """An AWS configuration of the user's own: credentials, and a profile file with no region yet."""
    for name in (*CREDENTIAL_VARIABLES, "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
    (tmp_path / "config").write_text("[default]\n")
    return tmp_path / "config"


def test_rekognition_goes_to_the_region_of_the_users_profile_never_a_default(aws_profile, exam, capsys):
    from proctoring_local.services.checks import rekognition_region
    from proctoring_local.services.run.workers import step_environment

    # No region anywhere: refused, rather than sending students' faces to a region nobody chose.
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert "needs an AWS region" in capsys.readouterr().err
    assert not (exam / "results").exists()

    aws_profile.write_text("[default]\nregion = eu-west-1\n")
    assert rekognition_region() == "eu-west-1"
    env = step_environment(exam, "rekognition", None, "k", region=rekognition_region())
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"  # what the workers' Rekognition client uses
    # Local runs call only emulated services; their region does not matter.
    assert step_environment(exam, "local", None, "k")["AWS_DEFAULT_REGION"] == "us-east-1"


@pytest.fixture
def rekognition_endpoint(aws_profile, monkeypatch):
    """Rekognition on loopback for the user's profile (region eu-west-1)."""
    aws_profile.write_text("[default]\nregion = eu-west-1\n")
    with RekognitionEndpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", endpoint.url)
        yield endpoint


def test_rekognition_refusing_the_credentials_stops_before_any_capture(rekognition_endpoint, exam, capsys):
    rekognition_endpoint.fail("ListCollections", "ExpiredTokenException")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Amazon Rekognition in eu-west-1 refused your AWS credentials (ExpiredTokenException" in err
    assert rekognition_endpoint.calls == ["ListCollections"]  # one call, and no image in it
    assert not list(exam.glob("results/**/*.json"))  # no capture was processed


def test_rekognition_out_of_reach_stops_before_any_capture(
    rekognition_endpoint, exam, capsys, monkeypatch, unused_port
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", f"http://127.0.0.1:{unused_port}")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert "cannot reach Amazon Rekognition in eu-west-1 (Could not connect" in capsys.readouterr().err
    assert not list(exam.glob("results/**/*.json"))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (  # what a credential_process hands out after an SSO session ended, say
            '{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "x", "SessionToken": "t", '
            '"Expiration": "2000-01-01T00:00:00Z"}',
            "your AWS credentials could not be used (RuntimeError: Credentials were refreshed, "
            "but the refreshed credentials are still expired.)",
        ),
        ("not json", "cannot read AWS credentials"),
    ],
)
def test_credentials_that_cannot_be_used_stop_before_any_capture(
    rekognition_endpoint, aws_profile, exam, capsys, output, message
):
    script = aws_profile.parent / "credentials.sh"
    script.write_text(f"#!/bin/sh\necho '{output}'\n")
    script.chmod(0o755)
    (aws_profile.parent / "credentials").write_text("")  # no static keys: the process is the source
    aws_profile.write_text(f"[default]\nregion = eu-west-1\ncredential_process = {script}\n")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not list(exam.glob("results/**/*.json"))


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_rekognition_that_answers_with_valid_credentials_passes_the_check(rekognition_endpoint, code):
    from proctoring_local.services.checks import check_rekognition_access

    rekognition_endpoint.fail("ListCollections", code, times=2)  # the SDK's one retry too
    check_rekognition_access("eu-west-1")  # denied this one action, or busy: the service is there
    assert set(rekognition_endpoint.calls) == {"ListCollections"}


def test_rekognition_mode_lets_rekognition_calls_through_to_the_network(unreachable_aws):
    """With --analyzer rekognition the emulated AWS must not answer Rekognition calls itself."""
    import boto3
    from botocore.exceptions import EndpointConnectionError

    from proctoring_local.stand_ins.engine import LocalStepFunctions

    with LocalStepFunctions(passthrough_services=("rekognition",)):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="still-emulated")  # other services stay emulated
        with pytest.raises(EndpointConnectionError):
            unreachable_aws("rekognition").detect_labels(Image={"Bytes": synthetic_jpeg(1)})
