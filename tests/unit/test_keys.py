from __future__ import annotations

import unicodedata
from urllib.parse import unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from proctoring.keys import (
    MAX_KEY_BYTES,
    InvalidCaptureKey,
    capture_identity,
    idempotency_key,
    key_candidates,
    parse_capture_key,
    rejected_result_key,
    sequencer_order,
)


@pytest.mark.parametrize(
    ("key", "exam", "user", "file"),
    [
        ("images/exam_123/user_456/capture_001.jpg", "exam_123", "user_456", "capture_001.jpg"),
        ("images/final exam/ana maría/foto 1.jpg", "final exam", "ana maría", "foto 1.jpg"),
        ("images/exam+1/user+2/a+b.jpg", "exam+1", "user+2", "a+b.jpg"),
        ("images/考试/学生/截图.JPG", "考试", "学生", "截图.JPG"),
        ("images/e/u/capture.JPEG", "e", "u", "capture.JPEG"),
        ("images/e/u/100%25.png", "e", "u", "100%25.png"),
    ],
)
def test_valid_keys(key, exam, user, file):
    parsed = parse_capture_key(key)
    assert (parsed.exam_id, parsed.user_id, parsed.file_name) == (exam, user, file)


def test_result_and_reference_keys_follow_the_capture():
    parsed = parse_capture_key("images/exam_123/user_456/capture_001.jpg")
    assert parsed.result_key("results/") == "results/exam_123/user_456/capture_001.json"
    assert parsed.reference_keys("reference/")[0] == "reference/user_456.jpg"
    assert parsed.reference_keys("reference/")[1:] == [
        "reference/user_456.jpeg",
        "reference/user_456.png",
        "reference/user_456.JPG",
        "reference/user_456.JPEG",
        "reference/user_456.PNG",
    ]


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_reference_keys_try_the_other_unicode_form_of_the_student_id(form):
    other = "NFD" if form == "NFC" else "NFC"
    user, other_user = unicodedata.normalize(form, "josé"), unicodedata.normalize(other, "josé")
    keys = parse_capture_key(f"images/e/{user}/c.jpg").reference_keys("reference/")
    assert keys[0] == f"reference/{user}.jpg"
    assert f"reference/{other_user}.jpg" in keys[1:]
    assert len(keys) == len(set(keys)) == 12


def test_reference_keys_of_an_ascii_id_are_not_repeated():
    assert len(parse_capture_key("images/e/ana/c.jpg").reference_keys("reference/")) == 6


@pytest.mark.parametrize(
    ("file", "result"),
    [
        ("SNAP.JPG", "SNAP.json"),  # the convention's extension, as cameras write it
        ("capture_2026.11.28_10.00.jpg", "capture_2026.11.28_10.00.json"),
        ("c1.png", "c1.png.json"),
        ("c1.jpeg", "c1.jpeg.json"),
        ("c1.txt", "c1.txt.json"),
        ("c1.json", "c1.json.json"),
        ("c1", "c1.json"),
    ],
)
def test_result_name_drops_only_the_jpg_extension(file, result):
    assert parse_capture_key(f"images/e/u/{file}").result_key("results/") == f"results/e/u/{result}"


def test_files_differing_only_in_extension_get_their_own_results():
    names = ["c1.jpg", "c1.png", "c1.jpeg", "c1.txt", "c1.json", "c1.gif"]
    results = {parse_capture_key(f"images/e/u/{name}").result_key("results/") for name in names}
    assert len(results) == len(names)


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("images/x.jpg", "segment(s)"),
        ("images/e/x.jpg", "segment(s)"),
        ("images/e/u/extra/x.jpg", "segment(s)"),
        ("images//u/x.jpg", "empty exam_id"),
        ("images/e//x.jpg", "empty user_id"),
        ("images/e/u/", "folder marker"),  # the S3 console's "Create folder"
        ("images/e/", "folder marker"),
        ("images/e//x.jpg/", "folder marker"),
        ("images/../u/x.jpg", "'..'"),
        ("images/e/../x.jpg", "'..'"),
        ("images/e/u/..", "'..'"),
        ("images/./u/x.jpg", "'.'"),
        ("uploads/e/u/x.jpg", "not under"),
        ("images/e/u/.jpg", "without a name"),
        ("images/e/u\x00/x.jpg", "control characters"),
    ],
)
def test_keys_outside_the_convention_are_refused_with_a_reason(key, fragment):
    with pytest.raises(InvalidCaptureKey) as error:
        parse_capture_key(key)
    assert fragment in str(error.value)
    assert error.value.code == "INVALID_KEY"


def test_custom_prefix():
    assert parse_capture_key("captures/e/u/f.jpg", "captures/").exam_id == "e"
    with pytest.raises(InvalidCaptureKey):
        parse_capture_key("images/e/u/f.jpg", "captures/")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("images/e/u/foto+1.jpg", ["images/e/u/foto 1.jpg", "images/e/u/foto+1.jpg"]),
        ("images/e/u/100%25.jpg", ["images/e/u/100%.jpg", "images/e/u/100%25.jpg"]),
        ("images/e/u/caf%C3%A9.jpg", ["images/e/u/café.jpg", "images/e/u/caf%C3%A9.jpg"]),
        ("images/e/u/plain.jpg", ["images/e/u/plain.jpg"]),
        ("images/e/u/café.jpg", ["images/e/u/café.jpg"]),
    ],
)
def test_key_candidates_decoded_first_then_raw(raw, expected):
    assert key_candidates(raw) == expected


@pytest.mark.parametrize(
    ("key", "readable"),
    [
        ("images/x.jpg", "x.jpg"),
        ("images/../../etc/passwd", "../../etc/passwd"),
        ("images//a/b/c.jpg", "/a/b/c.jpg"),
        ("elsewhere/x.jpg", "~elsewhere/x.jpg"),  # outside the prefix: marked, the whole key kept
        ("images/", "~images/"),  # the prefix itself, likewise
    ],
)
def test_rejected_result_key_is_one_flat_escaped_name(key, readable):
    result = rejected_result_key(key)
    assert result.startswith("results/_invalid/")
    name = result.removeprefix("results/_invalid/")
    assert "/" not in name
    assert name.endswith(".json")
    assert unquote(name.removesuffix(".json")) == readable  # the original key stays readable


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("images/", "images/_empty"),
        ("images/", "images/~images%2F"),
        ("images/", "empty"),
        ("images/", "~images/"),
        ("elsewhere/x.jpg", "images/elsewhere/x.jpg"),
        ("elsewhere/x.jpg", "images/~elsewhere/x.jpg"),
    ],
)
def test_the_marked_names_are_spelled_by_no_key_under_the_prefix(first, second):
    assert rejected_result_key(first) != rejected_result_key(second)


def test_rejected_result_key_keeps_long_keys_bounded_and_distinct():
    first = rejected_result_key("images/" + "a" * 500 + "1.jpg")
    second = rejected_result_key("images/" + "a" * 500 + "2.jpg")
    assert first != second
    assert len(first) < 260


def test_a_key_with_no_room_for_its_result_key_gets_a_bounded_invalid_result():
    # 1,024 bytes, S3's most, with every segment within its 255 characters: ".json" makes 1,026.
    longest = f"images/{'é' * 255}/{'é' * 250}/c.jpg"
    assert len(longest.encode()) == MAX_KEY_BYTES
    identity = capture_identity("b", longest, etag="e", version_id=None)
    assert identity["rejection"]["code"] == "INVALID_KEY"
    assert "would be 1026 bytes, over S3's 1024" in identity["rejection"]["message"]
    assert identity["result_key"].startswith("results/_invalid/")
    assert len(identity["result_key"].encode()) < 300
    shorter = capture_identity("b", f"images/{'é' * 255}/{'é' * 249}/c.jpg", etag="e", version_id=None)
    assert "rejection" not in shorter and len(shorter["result_key"].encode()) == MAX_KEY_BYTES


def test_idempotency_key_identifies_one_object_version():
    base = idempotency_key("b", "images/e/u/f.jpg", "v1", '"etag"')
    assert base == idempotency_key("b", "images/e/u/f.jpg", "v1", "etag")
    assert base != idempotency_key("b", "images/e/u/f.jpg", "v2", "etag")
    assert base != idempotency_key("b", "images/e/u/f.jpg", "v1", "other")
    assert base != idempotency_key("other", "images/e/u/f.jpg", "v1", "etag")
    assert len(base) == 64


def test_a_short_invalid_key_cannot_take_a_long_ones_result():
    """A long key's result name is its start and a digest: a short key spelling exactly that must
    not land on the same document (and overwrite it)."""
    long_key = "images/" + "a" * 300 + ".jpg"
    name = rejected_result_key(long_key).removeprefix("results/_invalid/").removesuffix(".json")
    assert "~" in name
    assert rejected_result_key(f"images/{name}") != rejected_result_key(long_key)


# --- Properties over any key (Hypothesis) ----------------------------------------------------------

# Characters keys are made of, the troublesome ones over-represented: separators, dots, escapes.
key_characters = st.one_of(st.sampled_from("/.%+~ _-aé"), st.characters(codec="utf-8"))
# Short keys, and long ones whose result name is cut and given a digest.
key_text = st.one_of(st.text(key_characters, max_size=40), st.text(key_characters, min_size=150, max_size=400))


@settings(max_examples=500, deadline=None)
@given(st.one_of(key_text.map(lambda rest: "images/" + rest), key_text))
def test_any_key_gets_one_result_key_that_stays_under_results(key):
    identity = capture_identity("bucket", key, etag="e", version_id=None)
    result_key = identity["result_key"]
    assert result_key.startswith("results/") and result_key.endswith(".json")
    segments = result_key.removeprefix("results/").split("/")
    assert not {"", ".", ".."} & set(segments)  # a local results folder is never left, nor a folder made empty
    assert len(result_key.encode("utf-8")) <= MAX_KEY_BYTES
    assert ("rejection" in identity) == (segments[0] == "_invalid" and len(segments) == 2)


# Any key at all: under the prefix, outside it, the prefix itself, the prefix's own name, and the
# words once used as the prefix's own result name.
marked = st.sampled_from(["images/", "images", "", "empty", "_empty", "images/_empty", "images/~empty"])
any_key = st.one_of(key_text.map(lambda rest: "images/" + rest), key_text, marked)


@settings(max_examples=1000, deadline=None)
@given(any_key, any_key)
def test_different_invalid_keys_never_share_a_result(first, second):
    assume(first != second)
    assert rejected_result_key(first) != rejected_result_key(second)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("00617F08299329D189", "00617F08299329D18A"),
        ("9", "0A"),  # S3: left-pad the shorter with zeros, then compare
        ("00FF", "100"),
        ("0061", "00617F08299329D189"),
    ],
)
def test_sequencers_order_uploads_as_s3_documents(earlier, later):
    assert sequencer_order(earlier) < sequencer_order(later)


@pytest.mark.parametrize("value", [None, "", "not-hex", "12 34", 42, "F" * 65])
def test_a_missing_or_malformed_sequencer_has_no_order(value):
    assert sequencer_order(value) is None


def test_capture_identity_keeps_only_a_well_formed_sequencer():
    kept = capture_identity("b", "images/e/u/c.jpg", etag="e", version_id=None, sequencer="00617F08299329D189")
    dropped = capture_identity("b", "images/e/u/c.jpg", etag="e", version_id=None, sequencer="<script>")
    assert (kept["sequencer"], dropped["sequencer"]) == ("00617F08299329D189", None)
