from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proctoring.errors import ResultNameTaken, StorageUnavailable
from proctoring.keys import MAX_KEY_BYTES, capture_identity, result_key_candidates
from proctoring.result_store import find_result, owner_of, store_result
from proctoring.storage import LocalStorage, StoredObject

BUCKET = "captures-b"
PRIMARY = "results/e/u/c1.json"


def document(file_name: str, sequencer: str | None = None, **fields) -> dict:
    version = {"version_id": None, "etag": None, "sequencer": sequencer}
    return {
        "s3_input": f"s3://{BUCKET}/images/e/u/{file_name}",
        "capture": file_name,
        "object_version": version,
        **fields,
    }


def test_candidates_start_with_the_conventions_name_then_the_whole_file_name():
    candidates = result_key_candidates(PRIMARY, f"s3://{BUCKET}/images/e/u/c1.JPG")
    assert candidates[:2] == [PRIMARY, "results/e/u/c1.JPG.json"]
    assert len(candidates) == 3
    assert candidates[2].startswith("results/e/u/c1.JPG~") and candidates[2].endswith(".json")


def test_a_name_whose_whole_file_name_is_the_conventions_goes_straight_to_its_digest():
    # "c1" names c1.json by the convention and by its whole file name alike.
    candidates = result_key_candidates(PRIMARY, f"s3://{BUCKET}/images/e/u/c1")
    assert len(candidates) == 2
    assert candidates[0] == PRIMARY and candidates[1].startswith("results/e/u/c1~")


def test_a_long_names_fallbacks_fit_a_file_systems_names():
    name = "é" * 120 + ".JPG"  # 244 bytes: its whole name with .json would be 249, with a digest more
    candidates = result_key_candidates("results/e/u/" + "é" * 120 + ".json", f"s3://{BUCKET}/images/e/u/{name}")
    assert len(candidates) == 3
    assert all(len(key.rpartition("/")[2].encode()) <= 255 for key in candidates)
    longer = "é" * 124 + ".JPG"  # 252 bytes: its whole name with .json would not fit; its digest name does
    candidates = result_key_candidates("results/e/u/" + "é" * 124 + ".json", f"s3://{BUCKET}/images/e/u/{longer}")
    assert len(candidates) == 2
    assert len(candidates[1].rpartition("/")[2].encode()) <= 255 and "~" in candidates[1]


def test_candidates_over_s3s_key_limit_are_left_out():
    # A results prefix near S3's limit leaves room for the convention's name alone.
    prefix = "r" * 200 + "/" + "s" * 200 + "/" + "t" * 210 + "/"
    identity = capture_identity(
        BUCKET, f"images/{'e' * 200}/{'u' * 200}/c1.JPG", etag=None, version_id=None, results_prefix=prefix
    )
    assert len(identity["result_key"].encode()) > MAX_KEY_BYTES - len("c1.JPG.json") + len("c1.json")
    assert result_key_candidates(identity["result_key"], identity["s3_input"]) == [identity["result_key"]]


@given(st.lists(st.sampled_from(["c1", "c1.jpg", "c1.JPG", "c1.Jpg", "c1.jpeg", "c1.jpg.jpg", "x/c1"]), unique=True))
def test_the_candidates_of_different_captures_never_end_in_the_same_digest_name(names):
    # Only the first candidate is shared by design; the last is the capture's own.
    lasts = [result_key_candidates(PRIMARY, f"s3://{BUCKET}/images/e/u/{name}")[-1] for name in names]
    assert len(set(lasts)) == len(lasts)
    assert all(len(last.encode()) <= MAX_KEY_BYTES for last in lasts)


def test_captures_sharing_a_result_name_each_get_a_document(any_storage):
    storage, stored = any_storage
    first = store_result(storage, BUCKET, PRIMARY, document("c1.jpg", status="OK"))
    second = store_result(storage, BUCKET, PRIMARY, document("c1.JPG", status="ALERT"))

    assert (first.key, second.key) == (PRIMARY, "results/e/u/c1.JPG.json")
    assert first.written and second.written
    assert json.loads(stored(PRIMARY))["capture"] == "c1.jpg"
    assert json.loads(stored(second.key))["status"] == "ALERT"


def test_a_capture_rewrites_its_own_document_where_it_stands(any_storage):
    storage, stored = any_storage
    store_result(storage, BUCKET, PRIMARY, document("c1.jpg", status="OK"))
    store_result(storage, BUCKET, PRIMARY, document("c1.JPG", status="OK", notification="pending"))

    again = store_result(storage, BUCKET, PRIMARY, document("c1.JPG", status="OK", notification="delivered"))

    assert again.key == "results/e/u/c1.JPG.json" and again.written
    assert json.loads(stored(again.key))["notification"] == "delivered"
    assert json.loads(stored(PRIMARY))["capture"] == "c1.jpg"


def test_only_if_absent_keeps_the_captures_own_document(any_storage):
    storage, stored = any_storage
    store_result(storage, BUCKET, PRIMARY, document("c1.jpg", notification="delivered"))

    kept = store_result(storage, BUCKET, PRIMARY, document("c1.jpg", notification="pending"), only_if_absent=True)
    beside = store_result(storage, BUCKET, PRIMARY, document("c1.JPG", notification="pending"), only_if_absent=True)

    assert (kept.key, kept.uri, kept.written) == (PRIMARY, None, False)
    assert json.loads(stored(PRIMARY))["notification"] == "delivered"
    assert beside.written and json.loads(stored(beside.key))["capture"] == "c1.JPG"


@pytest.mark.parametrize("there", [b"not json", b"[1, 2]", json.dumps({"status": "OK"}).encode()])
def test_what_names_no_capture_is_left_alone_and_the_document_goes_beside_it(tmp_path, there):
    # Something put there by hand (or damaged): it is not this capture's, so it is not replaced.
    (tmp_path / "results/e/u").mkdir(parents=True)
    (tmp_path / PRIMARY).write_bytes(there)

    result = store_result(LocalStorage(tmp_path), BUCKET, PRIMARY, document("c1.jpg"))

    assert result.key == "results/e/u/c1.jpg.json"
    assert (tmp_path / PRIMARY).read_bytes() == there


def test_every_name_held_by_other_captures_is_a_clear_error(any_storage):
    storage, _ = any_storage
    mine = document("c1.jpg")
    for key in result_key_candidates(PRIMARY, mine["s3_input"]):
        storage.write_json(BUCKET, key, document("someone-else.jpg"))

    with pytest.raises(ResultNameTaken, match=r"images/e/u/c1\.jpg"):
        store_result(storage, BUCKET, PRIMARY, mine)


def test_a_document_without_a_capture_is_written_at_its_key(any_storage):
    storage, stored = any_storage
    storage.write_json(BUCKET, PRIMARY, document("c1.jpg"))

    result = store_result(storage, BUCKET, PRIMARY, {"status": "ERROR"})

    assert result.key == PRIMARY and json.loads(stored(PRIMARY)) == {"status": "ERROR"}


class VanishingStorage(LocalStorage):
    """A document that is there when the create is refused, and gone when it is read: ``gone`` times."""

    def __init__(self, root, gone: int) -> None:
        super().__init__(root)
        self.gone = gone

    def create_json(self, bucket, key, document):
        if self.gone:
            return None
        return super().create_json(bucket, key, document)

    def read(self, bucket, key, version_id=None):
        if self.gone:
            self.gone -= 1
            raise FileNotFoundError(key)
        return super().read(bucket, key, version_id)


def test_a_document_gone_since_the_refused_create_is_claimed_again(tmp_path):
    result = store_result(VanishingStorage(tmp_path, gone=2), BUCKET, PRIMARY, document("c1.jpg"))
    assert result.key == PRIMARY and result.written


def test_a_name_that_keeps_changing_is_a_transient_error(tmp_path):
    with pytest.raises(StorageUnavailable, match="kept changing"):
        store_result(VanishingStorage(tmp_path, gone=10), BUCKET, PRIMARY, document("c1.jpg"))


def test_racing_captures_and_their_duplicates_end_with_one_document_each(tmp_path):
    storage = LocalStorage(tmp_path)
    names = ["c1.jpg", "c1.JPG", "c1.Jpg", "c1.jPG", "c1", "c1.JpG"]
    # Each capture three times over (duplicate events), all at once.
    jobs = [name for name in names for _ in range(3)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda name: store_result(storage, BUCKET, PRIMARY, document(name)), jobs))

    stored = {path.name: json.loads(path.read_text())["capture"] for path in (tmp_path / "results/e/u").glob("*.json")}
    assert sorted(stored.values()) == sorted(names)
    for name, result in zip(jobs, results, strict=True):
        assert stored[result.key.rpartition("/")[2]] == name


def test_find_result_finds_each_captures_document(any_storage):
    storage, _ = any_storage
    for name in ("c1.jpg", "c1.JPG", "c1"):
        store_result(storage, BUCKET, PRIMARY, document(name, capture=name))

    found = {
        name: find_result(storage, BUCKET, PRIMARY, document(name)["s3_input"]) for name in ("c1.jpg", "c1.JPG", "c1")
    }

    assert {name: entry[1]["capture"] for name, entry in found.items()} == {
        "c1.jpg": "c1.jpg",
        "c1.JPG": "c1.JPG",
        "c1": "c1",
    }
    assert found["c1.jpg"][0] == PRIMARY
    assert find_result(storage, BUCKET, PRIMARY, document("c1.jpeg")["s3_input"]) is None


def test_owner_of_reads_only_a_documents_s3_input():
    assert owner_of(b'{"s3_input": "s3://b/k"}') == "s3://b/k"
    assert owner_of(b'{"s3_input": 3}') is None
    assert owner_of(b"\xff\xfe") is None


@pytest.mark.parametrize(
    ("there", "arriving", "stands"),
    [
        ("0A", "09", "0A"),  # an older upload's execution finishing late: the later upload's stays
        ("09", "0A", "0A"),  # the later upload replaces the earlier one's
        ("0A", "0A", "0A-again"),  # the same upload again (a redrive): rewritten
        (None, "09", "09"),  # an event without a sequencer (started by hand) cannot be ordered: written
        ("0A", None, None),
    ],
)
def test_a_later_uploads_document_is_not_replaced_by_an_earlier_ones(any_storage, there, arriving, stands):
    storage, stored = any_storage
    store_result(storage, BUCKET, PRIMARY, document("c1.jpg", there, status="ALERT", judged=there))
    judged = f"{arriving}-again" if arriving == there else arriving

    result = store_result(storage, BUCKET, PRIMARY, document("c1.jpg", arriving, status="OK", judged=judged))

    assert json.loads(stored(PRIMARY))["judged"] == stands
    assert result.superseded is (stands == there)
    assert result.written is not result.superseded


def test_the_executions_own_sequencer_orders_a_replayed_verdict(any_storage):
    # A replayed verdict carries the sequencer of the upload first judged with those bytes; the
    # execution's own event says which upload it is.
    storage, stored = any_storage
    store_result(storage, BUCKET, PRIMARY, document("c1.jpg", "0B", judged="second upload"))

    result = store_result(storage, BUCKET, PRIMARY, document("c1.jpg", "0A", judged="third upload"), sequencer="0C")

    assert result.written and json.loads(stored(PRIMARY))["judged"] == "third upload"


class RacingStorage(LocalStorage):
    """Another execution writes ``racer`` at the name between this one's look and its write."""

    def __init__(self, root, racer: dict) -> None:
        super().__init__(root)
        self.racer = racer

    def fetch(self, bucket, key) -> StoredObject:
        seen = super().fetch(bucket, key)
        if self.racer:
            self.write_json(bucket, key, self.racer)
            self.racer = None
        return seen


def test_a_document_that_changes_between_the_look_and_the_write_is_looked_at_again(tmp_path):
    storage = RacingStorage(tmp_path, racer=document("c1.jpg", "0B", judged="later upload"))
    storage.write_json(BUCKET, PRIMARY, document("c1.jpg", "09", judged="first upload"))

    result = store_result(storage, BUCKET, PRIMARY, document("c1.jpg", "0A", judged="middle upload"))

    # Not written over what the racing execution left, which is about a later upload still.
    assert result.superseded
    assert json.loads((tmp_path / PRIMARY).read_text())["judged"] == "later upload"


def test_replace_json_writes_only_over_what_was_fetched(any_storage):
    storage, stored = any_storage
    storage.write_json(BUCKET, PRIMARY, {"n": 1})
    seen = storage.fetch(BUCKET, PRIMARY)
    assert storage.replace_json(BUCKET, PRIMARY, {"n": 2}, seen.etag)
    assert json.loads(stored(PRIMARY)) == {"n": 2}

    assert storage.replace_json(BUCKET, PRIMARY, {"n": 3}, seen.etag) is None  # changed since
    assert storage.replace_json(BUCKET, "results/e/u/gone.json", {"n": 3}, seen.etag) is None
    assert json.loads(stored(PRIMARY)) == {"n": 2}
