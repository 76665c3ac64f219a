"""ParseKey's work: from an event's key, URL-encoded or not, to the uploaded object and its reference."""

from __future__ import annotations

import hashlib
import tempfile
import unicodedata
from pathlib import Path
from urllib.parse import quote_plus, unquote_plus

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from proctoring.config import Settings
from proctoring.errors import InvalidEvent
from proctoring.keys import InvalidCaptureKey, parse_capture_key
from proctoring.locate import locate_capture, uploaded_object
from proctoring.storage import LocalStorage

SETTINGS = Settings()


def _is_segment(text: str) -> bool:
    """A name a key segment, and a file on this machine, can have (the characters are printable)."""
    return text not in {".", ".."} and len(text.encode()) <= 200


# Half the segments are made of the characters S3 notifications encode and URL-decoding turns into
# others ("+" and space above all); the rest of any printable characters.
plain = st.text(st.sampled_from("++  %2Bé._-a"), min_size=1, max_size=12)
anything = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs"), exclude_characters="/"), min_size=1, max_size=12
)
segments = st.one_of(plain, anything).filter(_is_segment)


@st.composite
def capture_keys(draw) -> str:
    key = f"images/{draw(segments)}/{draw(segments)}/{draw(segments)}.jpg"
    try:
        parse_capture_key(key)
    except InvalidCaptureKey:
        return "images/e/u/fallback.jpg"
    return key


def _etag(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - what S3 and LocalStorage give as the ETag


def parse_capture_key_or_none(key: str) -> object | None:
    try:
        return parse_capture_key(key)
    except InvalidCaptureKey:
        return None


@settings(max_examples=200, deadline=None)
@given(capture_keys(), st.booleans())
def test_the_uploaded_object_is_found_however_the_event_spells_its_key(key, encoded):
    """Whether the event's key is URL-encoded (as classic S3 notifications do, space as '+') or
    not, ParseKey finds the object that was uploaded, even when the other reading of the key names
    another object that exists too (``a+b.jpg`` beside ``a b.jpg``): the event's ETag decides."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        storage = LocalStorage(root)
        upload = b"the capture " + key.encode()
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(upload)
        raw = quote_plus(key, safe="/") if encoded else key
        other = unquote_plus(raw) if not encoded else None  # the decoded reading of an unencoded key
        if other and other != key and parse_capture_key_or_none(other):
            (root / other).parent.mkdir(parents=True, exist_ok=True)
            (root / other).write_bytes(b"another capture")
            event("both readings of the key exist")
        capture = locate_capture(
            storage, "b", raw, etag=_etag(upload), version_id=None, size=len(upload), settings=SETTINGS
        )
    assert capture["key"] == key
    assert "rejection" not in capture
    assert capture["result_key"] == parse_capture_key(key).result_key("results/")


def test_a_reference_is_found_in_either_unicode_spelling_of_the_students_id(tmp_path):
    nfd, nfc = unicodedata.normalize("NFD", "josé"), unicodedata.normalize("NFC", "josé")
    (tmp_path / "images" / "e" / nfd).mkdir(parents=True)
    (tmp_path / "images" / "e" / nfd / "c.jpg").write_bytes(b"capture")
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / f"{nfc}.png").write_bytes(b"reference")
    capture = locate_capture(
        LocalStorage(tmp_path), "b", f"images/e/{nfd}/c.jpg", etag=None, version_id=None, size=None, settings=SETTINGS
    )
    assert capture["reference"]["key"] == f"reference/{nfc}.png"
    assert capture["reference_expected"] == f"reference/{nfd}.jpg"


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ({"bucket": {"name": "b"}, "object": {"key": "k"}}, None),
        ({"bucket": {"name": "b"}}, "needs detail.bucket.name and detail.object.key"),
        ({"bucket": {"name": "other"}, "object": {"key": "k"}}, "bucket 'other'; this pipeline serves 'b'"),
    ],
)
def test_uploaded_object_reads_an_event_of_the_pipelines_bucket_only(detail, message):
    if message is None:
        assert uploaded_object(detail, "b") == ("b", {"key": "k"})
        assert uploaded_object(detail) == ("b", {"key": "k"})  # no bucket configured: any
        return
    with pytest.raises(InvalidEvent, match=message):
        uploaded_object(detail, "b")
