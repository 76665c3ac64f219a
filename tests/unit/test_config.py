"""Settings: the environment the template sets, the defaults the local tools rely on, bad values."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

from proctoring.config import DEFAULT_FORBIDDEN_LABELS, Settings, local_state_file
from proctoring_local.stand_ins import template as tpl

SETTING_VARIABLES = [field.name.upper() for field in dataclasses.fields(Settings)]


@pytest.fixture
def clean_env(monkeypatch):
    """No setting in the environment: every field at its default."""
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def template_environment() -> dict[str, str]:
    """The functions' environment variables that come from a template parameter: variable -> parameter."""
    variables = tpl.load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value["Ref"] for name, value in variables.items() if isinstance(value, dict) and "Ref" in value}


def test_every_setting_in_the_template_environment_is_read():
    setting_variables = set(SETTING_VARIABLES)
    mapped = {name for name in template_environment() if not name.startswith("POWERTOOLS_")}
    assert mapped <= setting_variables, mapped - setting_variables


def test_the_template_defaults_are_the_local_defaults(clean_env):
    # The local runner sets none of these, so it must judge exactly as a stack deployed with defaults.
    defaults = tpl.parameter_defaults()
    for variable, parameter in template_environment().items():
        if variable.startswith("POWERTOOLS_") or parameter not in defaults:  # a resource's name (AUDIT_BUCKET)
            continue
        clean_env.setenv(variable, defaults[parameter])
    assert Settings.from_env() == Settings()


def test_samconfig_overrides_name_template_parameters_at_their_defaults():
    config = tomllib.loads((tpl.ROOT / "samconfig.toml").read_text())
    overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    defaults = tpl.parameter_defaults()
    assert overrides
    for override in overrides:
        name, _, value = override.partition("=")
        assert name in defaults, f"samconfig.toml overrides {name}, which the template does not declare"
        assert value == defaults[name], f"samconfig.toml says {override}, the template default is {defaults[name]}"


def test_escalation_excludes_are_known_reason_codes(clean_env):
    clean_env.setenv("ESCALATION_EXCLUDES", " reference_missing, REFERENCE_INVALID,,REFERENCE_MISSING")
    assert Settings.from_env().escalation_excludes == ("REFERENCE_MISSING", "REFERENCE_INVALID")
    clean_env.setenv("ESCALATION_EXCLUDES", "REFERENCE_MISSING,NO_REFERENCE")
    with pytest.raises(ValueError, match=r"ESCALATION_EXCLUDES names unknown reason code\(s\) NO_REFERENCE; the alert"):
        Settings.from_env()


def test_unset_or_blank_variables_keep_the_defaults(clean_env):
    clean_env.setenv("MIN_CONFIDENCE", "  ")
    clean_env.setenv("IMAGES_PREFIX", "")
    settings = Settings.from_env()
    assert settings.min_confidence == 75.0
    assert settings.images_prefix == "images/"
    assert settings.forbidden_labels == DEFAULT_FORBIDDEN_LABELS
    assert settings.webhook_allow_http is False


def test_values_are_parsed_and_normalised(clean_env):
    clean_env.setenv("IMAGES_PREFIX", "/exams/captures/")
    clean_env.setenv("FORBIDDEN_LABELS", " Phone , ,Book,")
    clean_env.setenv("MAX_LABELS", "25")
    clean_env.setenv("SIMILARITY_THRESHOLD", "85.5")
    clean_env.setenv("ANALYZER", "Local")
    clean_env.setenv("WEBHOOK_ALLOW_HTTP", "TRUE")
    settings = Settings.from_env()
    assert settings.images_prefix == "exams/captures/"
    assert settings.forbidden_labels == ("Phone", "Book")
    assert settings.max_labels == 25
    assert settings.similarity_threshold == 85.5
    assert settings.analyzer == "local"
    assert settings.webhook_allow_http is True


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MIN_CONFIDENCE", "high", "MIN_CONFIDENCE must be a number, got 'high'"),
        ("MAX_LABELS", "10.5", "MAX_LABELS must be an integer, got '10.5'"),
        ("SIMILARITY_THRESHOLD", "150", "SIMILARITY_THRESHOLD must be between 0 and 100, got 150.0"),
        ("MIN_CONFIDENCE", "-1", "MIN_CONFIDENCE must be between 0 and 100, got -1.0"),
        ("MAX_PITCH", "91", "MAX_PITCH must be between 0 and 90"),
        ("MAX_LABELS", "0", "MAX_LABELS must be between 1 and 100, got 0"),
        ("ALERT_FINAL_THRESHOLD", "0", "ALERT_FINAL_THRESHOLD must be at least 1, got 0"),
        ("WEBHOOK_READ_TIMEOUT", "0", "WEBHOOK_READ_TIMEOUT must be at least 0.1"),
    ],
)
def test_a_bad_value_names_the_setting(clean_env, variable, value, message):
    clean_env.setenv(variable, value)
    with pytest.raises(ValueError, match=f"setting {message}"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"RESULTS_PREFIX": "images"}, "IMAGES_PREFIX ('images/') and RESULTS_PREFIX ('images/') overlap"),
        ({"RESULTS_PREFIX": "images/results"}, "IMAGES_PREFIX ('images/') and RESULTS_PREFIX"),
        ({"REFERENCE_PREFIX": "captures", "IMAGES_PREFIX": "captures/"}, "IMAGES_PREFIX ('captures/') and REFERENCE"),
    ],
)
def test_prefixes_that_contain_each_other_are_refused(clean_env, variables, message):
    for variable, value in variables.items():
        clean_env.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env()
    clean_env.setenv("RESULTS_PREFIX", "images-results")  # a name that only starts alike is separate
    for variable in ("IMAGES_PREFIX", "REFERENCE_PREFIX"):
        clean_env.delenv(variable, raising=False)
    assert Settings.from_env().results_prefix == "images-results/"


@pytest.mark.parametrize("value", ["../out", "results/../../x", "a//b", ".", "/"])
def test_a_prefix_that_leads_out_of_the_bucket_or_folder_is_refused(clean_env, value):
    clean_env.setenv("RESULTS_PREFIX", value)
    with pytest.raises(ValueError, match="setting RESULTS_PREFIX must be a folder name"):
        Settings.from_env()
    clean_env.setenv("RESULTS_PREFIX", "exams/2026/results")  # nested folders are fine
    assert Settings.from_env().results_prefix == "exams/2026/results/"


def test_the_template_refuses_equal_prefixes_before_anything_is_deployed():
    assertions = [assertion["Assert"] for assertion in tpl.load_template()["Rules"]["DistinctPrefixes"]["Assertions"]]
    pairs = {frozenset(ref["Ref"] for ref in assertion["Fn::Not"][0]["Fn::Equals"]) for assertion in assertions}
    assert pairs == {
        frozenset({"ImagesPrefix", "ResultsPrefix"}),
        frozenset({"ImagesPrefix", "ReferencePrefix"}),
        frozenset({"ReferencePrefix", "ResultsPrefix"}),
    }


def test_the_bounds_hold_at_their_edges(clean_env):
    for variable, value in {"SIMILARITY_THRESHOLD": "100", "MIN_CONFIDENCE": "0", "ALERT_FINAL_THRESHOLD": "1"}.items():
        clean_env.setenv(variable, value)
    settings = Settings.from_env()
    assert (settings.similarity_threshold, settings.min_confidence, settings.alert_final_threshold) == (100, 0, 1)


def test_local_state_lives_in_the_run_folder_unless_a_state_dir_is_given(tmp_path):
    assert local_state_file(Settings(local_root=str(tmp_path))) == str(tmp_path / ".proctoring" / "state.sqlite3")
    other = tmp_path / "state"
    assert local_state_file(Settings(local_root=str(tmp_path), state_dir=str(other))) == str(other / "state.sqlite3")
    with pytest.raises(ValueError, match="LOCAL_ROOT or STATE_DIR"):
        local_state_file(Settings())


def test_settings_can_be_read_from_a_given_environment(clean_env):
    clean_env.setenv("MAX_LABELS", "7")
    assert Settings.from_env({"MAX_LABELS": "3"}).max_labels == 3  # the mapping, not os.environ
    assert Settings.from_env().max_labels == 7


def test_every_bounded_setting_a_parameter_sets_has_the_settings_bounds():
    from proctoring.config import BOUNDS

    parameters = tpl.load_template()["Parameters"]
    checked = []
    for variable, parameter in template_environment().items():
        name = variable.lower()
        if name not in BOUNDS or parameters[parameter]["Type"] != "Number":
            continue
        low, high = BOUNDS[name]
        assert float(parameters[parameter]["MinValue"]) == low, parameter
        assert (float(parameters[parameter]["MaxValue"]) if "MaxValue" in parameters[parameter] else None) == high, (
            parameter
        )
        checked.append(variable)
    window = ["AWAY_CAPTURES", "AWAY_SECONDS", "SUSTAINED_YAW", "SUSTAINED_WINDOW", "SUSTAINED_MIN"]
    window += ["IDENTITY_WINDOW", "IDENTITY_DROP", "IDENTITY_BASELINE"]
    assert set(window) <= set(checked)  # the window reasons are a deployment's to set, as the others
