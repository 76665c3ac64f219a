"""The ``sam local invoke`` inputs in events/ still fit the handlers they are written for.

Each step's sample is hand-written JSON; this runs every one through its handler, with the objects
it names placed in a local bucket, so a change to a step's input cannot leave its sample behind.
"""

from __future__ import annotations

import json
import warnings

import pytest

from proctoring.analysis import set_analyzer
from proctoring_local.stand_ins import template as tpl
from proctoring_local.stand_ins.lambdas import LambdaContext
from tests.builders import ROOT, assert_valid, emitted_metrics, face, handler, synthetic_jpeg
from tests.fakes import CannedAnalyzer

EVENTS = ROOT / "events"


def sample(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def sample_bucket(local_env):
    """The capture and reference the samples name, as real JPEG files; one matching face in each."""
    capture = sample("detect_faces")["capture"]
    for key, seed in ((capture["key"], 1), (capture["reference"]["key"], 2)):
        path = local_env / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(synthetic_jpeg(seed))
    set_analyzer(CannedAnalyzer({"": [face()]}, similarity=99.0))
    return local_env


def test_every_step_function_has_exactly_one_sample():
    functions = {**tpl.step_functions(), **tpl.step_functions(tpl.RESCORE_STATE_MACHINE)}
    steps = {folder["code_dir"].rsplit("/", 1)[-1] for folder in functions.values()}
    samples = {path.stem for path in EVENTS.glob("*.json")} - {"env.local", "s3_object_created"}
    assert samples == steps


def test_the_local_environment_file_sets_only_what_sam_applies():
    # `sam local invoke --env-vars` silently ignores a variable the function does not declare (in
    # its own Environment or in Globals): a misspelt one would leave the default in place unnoticed.
    template = tpl.load_template()
    global_variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    functions = {
        name: global_variables | set(resource["Properties"].get("Environment", {}).get("Variables", {}))
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    overrides = json.loads((EVENTS / "env.local.json").read_text())
    assert set(overrides["Parameters"]) <= global_variables  # (Powertools turns tracing off under SAM itself)
    for function, variables in overrides.items():
        if function != "Parameters":
            assert function in functions, f"{function} is not a function of template.yaml"
            assert set(variables) <= functions[function], (
                f"{function} does not declare {set(variables) - functions[function]}"
            )


def test_the_upload_event_sample_is_parse_keys_input(sample_bucket):
    assert sample("parse_key") == sample("s3_object_created")
    capture = handler("parse_key")(sample("parse_key"), LambdaContext("sample"))
    assert "rejection" not in capture
    assert capture["result_key"] == sample("detect_faces")["capture"]["result_key"]
    assert capture["reference"]["key"] == sample("detect_faces")["capture"]["reference"]["key"]


def test_the_analysis_samples_run_through_their_steps(sample_bucket):
    reference = handler("check_reference")(sample("check_reference"), LambdaContext("sample"))
    assert reference["status"] == "usable"
    faces = handler("detect_faces")(sample("detect_faces"), LambdaContext("sample"))
    assert faces["face_count"] == 1 and "rejection" not in faces
    comparison = handler("compare_to_reference")(sample("compare_to_reference"), LambdaContext("sample"))
    assert comparison["face_count"] == 1 and comparison["comparison"]["similarity"] == 99.0
    labels = handler("detect_labels")(sample("detect_labels"), LambdaContext("sample"))
    assert labels["checked"] is True


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("parse_key", {"CapturesReceived"}),
        ("check_reference", {"ReferencesUsable"}),
        ("detect_faces", {"ImagesAnalysed"}),
        ("compare_to_reference", {"FaceComparisons"}),
        ("detect_labels", {"LabelDetections"}),
        ("decide_verdict", {"VerdictOk"}),
        ("persist_result", {"PendingResultsWritten"}),
        ("record_failure", {"ProcessingFailed"}),
    ],
)
def test_every_step_publishes_a_metric_for_its_sample(sample_bucket, monkeypatch, capsys, step, expected):
    # A step that publishes none makes Powertools warn in the function's log on every invocation.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(emitted_metrics(step, sample(step), monkeypatch, capsys)) == expected


def test_the_rescore_samples_run_through_their_steps(sample_bucket):
    request = handler("check_rescore_request")(sample("check_rescore_request"), LambdaContext("sample"))
    assert request == sample("load_analysis")["request"]
    event = {**sample("load_analysis"), "bucket": "local"}
    state = handler("load_analysis")(event, LambdaContext("sample"))
    assert state["plan"] == "analyse"  # no stored analysis yet: the sample capture was never judged
    summary = handler("summarise_rescore")({**sample("summarise_rescore"), "bucket": "local"}, LambdaContext("sample"))
    assert (summary["captures"], summary["rejudged"]) == (1, 0)


def test_the_decide_sample_gives_a_valid_document(sample_bucket):
    result = handler("decide_verdict")(sample("decide_verdict"), LambdaContext("sample"))
    assert result["failed"] is False
    assert result["key"] == sample("detect_faces")["capture"]["result_key"]
    assert_valid(result["document"])
