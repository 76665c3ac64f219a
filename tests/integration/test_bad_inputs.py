"""Nothing lost: every upload under the images prefix yields exactly one result document, with a
specific reason when the input is bad, through the real state machine."""

from __future__ import annotations

import io
import struct
from urllib.parse import quote_plus

import numpy as np
import pytest
from PIL import Image

from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import BUCKET, OK_ANSWERS, WEBHOOK_SECRET, assert_valid, synthetic_jpeg

OK = OK_ANSWERS


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def heic() -> bytes:
    return struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"heic", 0, b"mif1", b"heic") + b"\x00" * 4000


def exif_rotated() -> bytes:
    image = Image.open(io.BytesIO(synthetic_jpeg(41)))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes())


def sixteen_bit_png() -> bytes:
    pixels = (np.random.default_rng(3).random((300, 400)) * 65535).astype(np.uint16)
    return encode(Image.fromarray(pixels), "PNG")


def big_noise_png() -> bytes:
    return encode(Image.effect_noise((3000, 2500), 120).convert("RGB"), "PNG")


@pytest.fixture
def pipeline(make_aws_pipeline):
    built = make_aws_pipeline()
    built.reference("user", synthetic_jpeg(999))
    return built


def result_name(file: str) -> str:
    """The documented naming: ``.jpg`` (in any case) becomes ``.json``, any other name gets ``.json`` added."""
    return file[: -len(".jpg")] if file.lower().endswith(".jpg") else file


def run(pipeline, key, data, **answers):
    execution = pipeline.sfn.run(pipeline.upload(key, data, **answers))
    return execution


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("zero.jpg", lambda: b"", "IMAGE_EMPTY"),
        ("truncated.jpg", lambda: synthetic_jpeg(1)[:2000], "IMAGE_CORRUPT"),
        ("text.jpg", lambda: b"not an image, just notes\n" * 40, "IMAGE_UNREADABLE"),
        ("anim.gif", lambda: encode(Image.new("RGB", (200, 200), "red"), "GIF"), "IMAGE_FORMAT_UNSUPPORTED"),
        ("photo.webp", lambda: encode(Image.new("RGB", (200, 200), "red"), "WEBP"), "IMAGE_FORMAT_UNSUPPORTED"),
        ("phone.heic", heic, "IMAGE_FORMAT_UNSUPPORTED"),
        ("tiny.jpg", lambda: synthetic_jpeg(2, size=(79, 120)), "IMAGE_TOO_SMALL"),
        ("huge.jpg", lambda: synthetic_jpeg(3) + b"\x00" * (15 * 1024 * 1024 + 1), "IMAGE_TOO_LARGE"),
        ("notes.txt", lambda: b"exam notes", "IMAGE_UNREADABLE"),
    ],
)
def test_unusable_files_get_an_error_document_with_their_code(pipeline, name, data, code):
    execution = run(pipeline, f"images/exam/user/{name}", data())

    assert execution.status == "SUCCEEDED"  # bad input is not a failure to retry
    # Refused before anything is asked of Rekognition (the one call is the reference's check).
    assert pipeline.rekognition.calls == ["detect_faces"]
    assert execution.entered_states()[-6:-4] == ["HasFace", "DecideVerdict"]
    document = pipeline.result(f"results/exam/user/{result_name(name)}.json")
    assert document["status"] == "ERROR"
    assert document["reason"] == code
    assert document["error"]["name"] == code
    assert document["reasons"][0]["message"]


def test_an_oversized_file_is_refused_without_being_downloaded(pipeline, monkeypatch):
    from proctoring.storage import S3Storage

    reads = []
    original = S3Storage.read
    monkeypatch.setattr(S3Storage, "read", lambda self, *a, **k: reads.append(a) or original(self, *a, **k))
    run(pipeline, "images/exam/user/huge.jpg", synthetic_jpeg(3) + b"\x00" * (16 * 1024 * 1024))
    assert pipeline.result("results/exam/user/huge.json")["reason"] == "IMAGE_TOO_LARGE"
    assert not [args for args in reads if args[1] == "images/exam/user/huge.jpg"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cmyk.jpg", lambda: encode(Image.new("CMYK", (400, 300), (10, 200, 30, 5)), "JPEG")),
        ("rgba.png", lambda: encode(Image.new("RGBA", (400, 300), (10, 200, 30, 128)), "PNG")),
        ("deep.png", sixteen_bit_png),
        ("rotated.jpg", exif_rotated),
        ("over5mb.png", big_noise_png),
    ],
)
def test_unusual_but_valid_images_are_analysed(pipeline, name, data):
    # Rekognition's canned answers are registered for the normalised (upright, 8-bit RGB, <= 5 MB) bytes:
    # the execution only succeeds if that is exactly what the pipeline sends.
    payload = data()
    execution = run(pipeline, f"images/exam/user/{name}", payload, **OK)

    assert execution.status == "SUCCEEDED"
    document = pipeline.result(f"results/exam/user/{result_name(name)}.json")
    assert document["status"] == "OK"


@pytest.mark.parametrize(
    ("key", "result"),
    [
        ("images/x.jpg", "results/_invalid/x.jpg.json"),
        ("images//user/x.jpg", "results/_invalid/%2Fuser%2Fx.jpg.json"),
        ("images/exam/../x.jpg", "results/_invalid/exam%2F..%2Fx.jpg.json"),
        ("images/exam/user/extra/x.jpg", "results/_invalid/exam%2Fuser%2Fextra%2Fx.jpg.json"),
    ],
)
def test_keys_outside_the_convention_get_an_error_document(pipeline, key, result):
    execution = run(pipeline, key, synthetic_jpeg(5))

    assert execution.status == "SUCCEEDED"
    assert execution.entered_states()[:3] == ["ParseKey", "RouteCapture", "DecideVerdict"]
    document = pipeline.result(result)
    assert document["status"] == "ERROR"
    assert document["reason"] == "INVALID_KEY"
    assert document["s3_input"] == f"s3://{BUCKET}/{key}"
    assert pipeline.result_keys() == [result]


@pytest.mark.parametrize(
    ("exam", "user", "file"),
    [
        ("final exam", "user", "foto 1.jpg"),
        ("exam+1", "user", "a+b.jpg"),
        ("exámen", "user", "captura_ñ.jpg"),
        ("exam", "user", "100%.jpg"),
        ("exam", "user", "SNAP.JPG"),
    ],
)
def test_keys_with_spaces_plus_unicode_and_encoding(pipeline, exam, user, file):
    key = f"images/{exam}/{user}/{file}"
    event = pipeline.upload(key, synthetic_jpeg(6), **OK)
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")  # as S3 notifications encode keys

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    document = pipeline.result(f"results/{exam}/{user}/{result_name(file)}.json")
    assert document["status"] == "OK"
    assert document["exam_id"] == exam
    assert document["capture"] == file


def test_captures_the_convention_names_alike_each_get_a_document_and_one_delivery(make_aws_pipeline):
    # c1.jpg, c1.JPG and c1 all name results/exam/user/c1.json by the convention.
    files = ["c1.jpg", "c1.JPG", "c1"]
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("user", synthetic_jpeg(999))
        events = [
            pipeline.upload(f"images/exam/user/{file}", synthetic_jpeg(60 + n), **OK) for n, file in enumerate(files)
        ]
        executions = [pipeline.sfn.run(event) for event in events]
        documents = {key: pipeline.result(key) for key in pipeline.result_keys()}
        again = pipeline.sfn.run(events[1])  # a duplicate event: its own document, rewritten where it is

    assert [execution.status for execution in [*executions, again]] == ["SUCCEEDED"] * 4
    assert {key: document["capture"] for key, document in documents.items()} == {
        "results/exam/user/c1.json": "c1.jpg",  # the first to be written keeps the convention's name
        "results/exam/user/c1.JPG.json": "c1.JPG",
        next(key for key in documents if key.startswith("results/exam/user/c1~")): "c1",
    }
    assert {key: pipeline.result(key) for key in pipeline.result_keys()} == documents
    assert sorted(delivery.payload["capture"] for delivery in receiver.distinct()) == sorted(files)
    assert all(document["notification"]["status"] == "delivered" for document in documents.values())
    for document in documents.values():
        assert_valid(document, "result")


@pytest.mark.parametrize(
    ("reference", "faces", "evidence"),
    [
        (lambda: synthetic_jpeg(7), "detect_faces_none", {"face_count": 0}),
        (lambda: synthetic_jpeg(8), "detect_faces_two", {"face_count": 2}),
        (lambda: synthetic_jpeg(9)[:1500], None, {"error_code": "IMAGE_CORRUPT"}),
    ],
)
def test_unusable_references_give_reference_invalid(make_aws_pipeline, reference, faces, evidence):
    pipeline = make_aws_pipeline()
    data = reference()
    if faces:
        pipeline.reference("user", data, faces=faces)
    else:
        pipeline.put("reference/user.jpg", data)
    execution = run(
        pipeline,
        "images/exam/user/c.jpg",
        synthetic_jpeg(10),
        detect_faces="detect_faces_one",
        detect_labels="detect_labels_person",
    )

    assert execution.status == "SUCCEEDED"
    assert "compare_faces" not in pipeline.rekognition.calls
    document = pipeline.result("results/exam/user/c.json")
    assert document["reason"] == "REFERENCE_INVALID"
    assert document["reasons"][0]["evidence"].items() >= evidence.items()


def test_every_upload_yields_exactly_one_document(pipeline):
    uploads = {
        "images/exam/user/ok.jpg": (synthetic_jpeg(20), OK),
        "images/exam/user/bad.jpg": (b"", {}),
        "images/lost.jpg": (synthetic_jpeg(21), {}),
        "images/exam/user/odd.gif": (encode(Image.new("RGB", (100, 100)), "GIF"), {}),
        # Beside ok.jpg: a client's metadata sidecar and a re-upload in another format.
        "images/exam/user/ok.txt": (b'{"camera": "front"}', {}),
        "images/exam/user/ok.png": (encode(Image.new("RGB", (100, 100)), "PNG"), {"detect_faces": "detect_faces_none"}),
    }
    for key, (data, answers) in uploads.items():
        run(pipeline, key, data, **answers)
    assert len(pipeline.result_keys()) == len(uploads)
    documents = {
        pipeline.result(key)["s3_input"].removeprefix(f"s3://{BUCKET}/"): key for key in pipeline.result_keys()
    }
    assert sorted(documents) == sorted(uploads)
    assert pipeline.result("results/exam/user/ok.json")["status"] == "OK"
