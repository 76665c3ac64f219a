"""The offline analyzer on real photos: the two that ship in wheels, and ../shared/faces when present."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from proctoring.analysis.local import LocalAnalyzer, similarity_from_distance
from proctoring.config import Settings
from proctoring.images import prepare_image
from proctoring.policy import PolicyConfig, decide


@pytest.fixture(scope="module")
def analyzer():
    return LocalAnalyzer()


def photo(path, identity=None):
    return prepare_image(path.read_bytes(), identity or str(path))


def from_pil(image, identity):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return prepare_image(buffer.getvalue(), identity)


def confident(faces, minimum=90.0):
    return [face for face in faces if face["Confidence"] >= minimum]


@pytest.fixture(scope="module")
def wheel_photos():
    from proctoring_local.services.demo_exam import _sources

    astronaut, grace, desk = _sources()
    return astronaut, grace, desk


def test_similarity_mapping_puts_90_at_distance_060():
    assert similarity_from_distance(0.60) == pytest.approx(90.0)
    values = [similarity_from_distance(d / 10) for d in range(0, 13)]
    assert values == sorted(values, reverse=True)
    assert similarity_from_distance(0.3) > 99 and similarity_from_distance(1.0) < 10


def test_faces_come_in_rekognition_shapes(analyzer, wheel_photos):
    _astronaut, grace, _desk = wheel_photos
    faces = analyzer.detect_faces(from_pil(grace, "grace"))
    assert len(faces) == 1
    face = faces[0]
    box = face["BoundingBox"]
    assert set(box) == {"Width", "Height", "Left", "Top"}
    assert all(0 <= value <= 1 for value in box.values())
    assert 90 <= face["Confidence"] <= 100
    assert set(face["Pose"]) == {"Yaw", "Pitch", "Roll"}
    assert abs(face["Pose"]["Yaw"]) < 15
    assert 0 <= face["Quality"]["Brightness"] <= 100 and 0 <= face["Quality"]["Sharpness"] <= 100


def test_wheel_photos_match_themselves_and_not_each_other(analyzer, wheel_photos):
    astronaut, grace, _desk = wheel_photos
    eileen_ref, grace_ref = from_pil(astronaut, "eileen-ref"), from_pil(grace, "grace-ref")
    eileen_cam = from_pil(astronaut.crop((80, 0, 400, 240)).resize((640, 480)), "eileen-cam")
    grace_cam = from_pil(ImageOps.mirror(grace.crop((0, 40, 512, 424))).resize((640, 480)), "grace-cam")
    assert analyzer.compare_faces(eileen_ref, eileen_cam)["similarity"] >= 90
    assert analyzer.compare_faces(grace_ref, grace_cam)["similarity"] >= 90
    assert analyzer.compare_faces(eileen_ref, grace_cam)["similarity"] < 90
    assert analyzer.compare_faces(grace_ref, eileen_cam)["similarity"] < 90


def test_a_phone_photo_stored_sideways_is_analysed_upright(analyzer, wheel_photos):
    # Phones store the sensor's pixels and an EXIF Orientation saying how to turn them for viewing.
    _astronaut, grace, _desk = wheel_photos
    sideways = grace.transpose(Image.Transpose.ROTATE_90)  # what the sensor stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    tagged = prepare_image(buffer.getvalue(), "grace-exif")
    faces = confident(analyzer.detect_faces(tagged))
    assert len(faces) == 1
    assert abs(faces[0]["Pose"]["Roll"]) < 15
    assert analyzer.compare_faces(from_pil(grace, "grace-upright"), tagged)["similarity"] >= 90
    # The same pixels without the tag really are sideways: the frontal-face detector finds nothing.
    assert confident(analyzer.detect_faces(from_pil(sideways, "grace-sideways"))) == []


def test_a_pose_the_solver_cannot_find_is_left_out_not_made_frontal(analyzer, wheel_photos, monkeypatch):
    import cv2

    _astronaut, grace, _desk = wheel_photos
    monkeypatch.setattr(cv2, "solvePnP", lambda *args, **kwargs: (False, None, None))
    (found,) = analyzer.detect_faces(from_pil(grace, "grace-no-pose"))
    assert "Pose" not in found
    assert found["Confidence"] >= 90 and "Quality" in found


def test_mission_patch_false_face_has_low_confidence(analyzer, wheel_photos):
    astronaut, _grace, _desk = wheel_photos
    faces = analyzer.detect_faces(from_pil(astronaut, "astronaut-full"))
    assert len(confident(faces)) == 1  # the patch, if found, stays under the policy's 90


def test_no_face_on_an_empty_desk(analyzer, wheel_photos):
    _astronaut, _grace, desk = wheel_photos
    assert confident(analyzer.detect_faces(from_pil(desk, "desk"))) == []


def test_a_glance_reads_within_the_limit_and_a_head_turned_far_away_is_not_a_face(analyzer, wheel_photos):
    """A synthetic 25-degree turn of the frontal portrait is found, its yaw within MAX_YAW; turned
    60 degrees, the frontal detector no longer finds a usable face (the policy says NO_FACE)."""
    from proctoring_local.services.accuracy.conditions import face_box_in_frame, turned_head, webcam_frame
    from proctoring_local.services.accuracy.sources import WHEEL_PHOTOS

    photo = WHEEL_PHOTOS[1]  # Grace Hopper
    frame, box = webcam_frame(photo.load(), photo.box, 0.32), face_box_in_frame(photo.box, 0.32)
    [glance] = confident(analyzer.detect_faces(from_pil(turned_head(frame, box, 25), "glance")))
    assert 10 < abs(glance["Pose"]["Yaw"]) < Settings.max_yaw
    assert confident(analyzer.detect_faces(from_pil(turned_head(frame, box, 60), "turned"))) == []


def test_labels_are_not_checked_offline(analyzer, wheel_photos):
    _astronaut, grace, _desk = wheel_photos
    labels = analyzer.detect_labels(from_pil(grace, "grace-labels"), 10, 75)
    assert labels["checked"] is False
    assert labels["labels"] == []
    assert labels["person_count"] == 1
    assert "not checked" in labels["note"]
    # A person is counted as DetectLabels counts one: at or above MinConfidence.
    assert analyzer.detect_labels(from_pil(grace, "grace-labels"), 10, 100.0)["person_count"] == 0


@pytest.mark.parametrize(("confidences", "persons"), [((99.0, 89.9), 1), ((99.0, 90.0), 2), ((80.0,), 0)])
def test_a_faint_detection_is_not_counted_as_a_person(analyzer, wheel_photos, monkeypatch, confidences, persons):
    """Below FACE_MIN_CONFIDENCE (90) a detection (grain, a pattern) is no one: no EXTRA_PERSON of it."""
    _astronaut, grace, _desk = wheel_photos
    image = from_pil(grace, f"faint-{confidences}")
    faces = [{**analyzer.detect_faces(image)[0], "Confidence": confidence} for confidence in confidences]
    monkeypatch.setattr(analyzer, "detect_faces", lambda image: faces)
    assert analyzer.detect_labels(image, 10, 75.0)["person_count"] == persons


def test_detection_doubles_the_picture_only_when_no_usable_face_is_found(analyzer, wheel_photos, monkeypatch):
    """A webcam face is found at the frame's own size, in one pass; a face under 80 px needs the
    doubled picture, searched only then."""
    _astronaut, grace, _desk = wheel_photos
    passes = []
    original = analyzer._detections
    monkeypatch.setattr(
        analyzer,
        "_detections",
        lambda pixels, scale, upsample: passes.append(upsample) or original(pixels, scale, upsample=upsample),
    )
    frame = grace.crop((0, 40, 512, 424)).resize((640, 480))
    assert len(confident(analyzer.detect_faces(from_pil(frame, "webcam-size")))) == 1
    assert passes == [0]
    passes.clear()
    small = Image.new("RGB", (640, 480), (90, 90, 90))
    small.paste(frame.resize((120, 90)), (260, 195))  # the face is about 45 px wide
    assert len(confident(analyzer.detect_faces(from_pil(small, "small-face")))) == 1
    assert passes == [0, 1]


def test_reference_embedding_is_computed_once_per_version(analyzer, wheel_photos, monkeypatch):
    _astronaut, grace, _desk = wheel_photos
    calls = []
    original = analyzer._encoder

    class CountingEncoder:
        def compute_face_descriptor(self, *args):
            calls.append(1)
            return original.compute_face_descriptor(*args)

    monkeypatch.setattr(analyzer, "_encoder", CountingEncoder())
    reference = from_pil(grace, "s3://b/reference/g.jpg@etag-1")
    captures = [from_pil(grace.rotate(angle), f"capture-{angle}") for angle in (2, 4, 6)]
    for capture in captures:
        analyzer.compare_faces(reference, capture)
    assert len(calls) == 1 + 3  # the reference once, each capture once
    analyzer.compare_faces(from_pil(grace, "s3://b/reference/g.jpg@etag-2"), captures[0])
    assert len(calls) == 5  # a new reference version is analysed again


def test_models_load_once_per_process(monkeypatch):
    from proctoring.analysis import get_analyzer
    from proctoring_local.stand_ins.lambdas import reset_backends

    monkeypatch.setenv("ANALYZER", "local")
    reset_backends()
    try:
        assert get_analyzer() is get_analyzer()
    finally:
        reset_backends()


# -- ../shared/faces (skipped where absent) ---------------------------------------------------------
SAME = [
    ("obama.jpg", "obama2.jpg"),
    ("obama.jpg", "obama-480p.jpg"),
    ("biden.jpg", "biden2.jpg"),
    ("alex_lacamoire1.jpg", "alex_lacamoire2.jpg"),
    ("kit_harington_test.jpg", "kit_harington2.jpg"),
    ("rose_leslie1.jpg", "rose_leslie2.jpg"),
]
DIFFERENT = [
    ("obama.jpg", "biden2.jpg"),
    ("alex_lacamoire2.jpg", "lin-manuel-miranda.png"),
    ("rose_leslie1.jpg", "kit_harington_test.jpg"),
    ("biden2.jpg", "obama2.jpg"),
    ("obama.jpg", "alex_lacamoire1.jpg"),
]


@pytest.mark.faces
@pytest.mark.parametrize(("first", "second"), SAME)
def test_same_person_pairs_match(analyzer, faces_dir, first, second):
    assert analyzer.compare_faces(photo(faces_dir / first), photo(faces_dir / second))["similarity"] >= 90


@pytest.mark.faces
@pytest.mark.parametrize(("first", "second"), DIFFERENT)
def test_different_person_pairs_do_not_match(analyzer, faces_dir, first, second):
    assert analyzer.compare_faces(photo(faces_dir / first), photo(faces_dir / second))["similarity"] < 90


@pytest.mark.faces
@pytest.mark.parametrize(
    ("name", "count"), [("two_people.jpg", 2), ("kit_with_rose.jpg", 2), ("obama.jpg", 1), ("obama_and_biden.jpg", 3)]
)
def test_face_counts(analyzer, faces_dir, name, count):
    assert len(confident(analyzer.detect_faces(photo(faces_dir / name)), 80)) == count


@pytest.mark.faces
@pytest.mark.parametrize(
    "name", ["obama.jpg", "biden2.jpg", "alex_lacamoire2.jpg", "obama-1080p.jpg", "rose_leslie1.jpg"]
)
def test_frontal_portraits_have_small_yaw(analyzer, faces_dir, name):
    faces = analyzer.detect_faces(photo(faces_dir / name))
    assert len(faces) == 1
    assert abs(faces[0]["Pose"]["Yaw"]) < 15


@pytest.mark.faces
def test_rgba_png_photo_is_analysed(analyzer, faces_dir):
    assert len(analyzer.detect_faces(photo(faces_dir / "32bit.png"))) == 1
    with Image.open(faces_dir / "32bit.png") as original:
        assert original.mode == "RGBA"  # the input really is RGBA


@pytest.mark.faces
@pytest.mark.parametrize("name", ["obama2.jpg", "kit_harington2.jpg", "obama1_knn.jpg", "biden.jpg"])
def test_mirroring_a_turned_face_flips_yaw_and_roll(analyzer, faces_dir, name):
    image = Image.open(faces_dir / name).convert("RGB")
    pose = analyzer.detect_faces(from_pil(image, name))[0]["Pose"]
    mirrored = analyzer.detect_faces(from_pil(ImageOps.mirror(image), name + "-mirror"))[0]["Pose"]
    assert abs(pose["Yaw"]) > 20
    assert mirrored["Yaw"] == pytest.approx(-pose["Yaw"], abs=5)
    assert mirrored["Roll"] == pytest.approx(-pose["Roll"], abs=5)
    assert mirrored["Pitch"] == pytest.approx(pose["Pitch"], abs=5)


@pytest.mark.faces
def test_yaw_is_negative_when_the_face_turns_to_the_image_left(analyzer, faces_dir):
    # obama2.jpg: Obama at a podium, his nose pointing to the left of the picture.
    assert analyzer.detect_faces(photo(faces_dir / "obama2.jpg"))[0]["Pose"]["Yaw"] < -20


@pytest.mark.faces
def test_the_student_beside_someone_is_named_in_the_verdict(analyzer, faces_dir):
    # two_people.jpg against Biden's reference: Obama's box is a little the larger (the faces are of
    # one size), so his is the face judged (a mismatch); the verdict also says that Biden's matches.
    capture = photo(faces_dir / "two_people.jpg")
    faces = analyzer.detect_faces(capture)
    assert faces[0]["BoundingBox"]["Left"] < 0.5 and faces[0]["BoundingBox"]["Width"] > faces[1]["BoundingBox"]["Width"]
    comparison = analyzer.compare_faces(photo(faces_dir / "biden2.jpg"), capture)
    analysis = {
        "faces": faces,
        "reference": {"status": "ok", "face_count": 1},
        **comparison,
        "labels": analyzer.detect_labels(capture, 10, 75),
    }
    verdict = decide(analysis, PolicyConfig())
    assert [reason.code for reason in verdict.reasons] == ["FACE_MISMATCH", "MULTIPLE_FACES", "EXTRA_PERSON"]
    evidence = verdict.reasons[0].evidence
    assert evidence["similarity"] < 90 <= evidence["other_face_similarity"]


def test_two_threads_asking_for_one_images_faces_share_one_detection():
    """A Parallel state's branches (CompareToReference, DetectLabels) look at the capture at once."""
    import threading
    import time

    from proctoring.analysis.base import FaceAnalyzer
    from proctoring.images import prepare_image
    from tests.builders import synthetic_jpeg

    class Slow(FaceAnalyzer):
        calls = 0

        def _detect_faces(self, image):
            Slow.calls += 1
            time.sleep(0.2)
            return [{"BoundingBox": {"Width": 0.1, "Height": 0.1, "Left": 0, "Top": 0}, "Confidence": 99.0}]

        def compare_faces(self, reference, capture):
            raise NotImplementedError

        def detect_labels(self, image, max_labels, min_confidence):
            raise NotImplementedError

    analyzer, image = Slow(), prepare_image(synthetic_jpeg(1), "s3://b/k@e")
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(analyzer.detect_faces(image))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Slow.calls == 1 and len(answers) == 4 and all(answer == answers[0] for answer in answers)


class _Counting:
    """Wraps a dlib model, counting its calls (the work a picture costs)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args):
        self.calls += 1
        return self.model(*args)

    def compute_face_descriptor(self, *args):
        self.calls += 1
        return self.model.compute_face_descriptor(*args)


def test_a_crowd_of_150_faces_costs_what_the_largest_20_do(wheel_photos):
    astronaut = wheel_photos[0]
    face = astronaut.crop((150, 40, 320, 230)).resize((120, 135))
    crowd = Image.new("RGB", (15 * 140, 10 * 150), "white")
    for index in range(150):
        crowd.paste(face, ((index % 15) * 140, (index // 15) * 150))
    analyzer = LocalAnalyzer(max_faces=20)
    found = len(analyzer._detections(np.asarray(crowd), 1.0, upsample=0))
    assert found == 150  # the crowd is there to be found...
    analyzer._predictor, analyzer._encoder = _Counting(analyzer._predictor), _Counting(analyzer._encoder)
    picture = from_pil(crowd, "crowd")
    comparison = analyzer.compare_faces(from_pil(astronaut, "reference"), picture)
    assert len(comparison["faces"]) == 20 and len(analyzer.detect_faces(picture)) == 20  # ...only 20 described
    # The reference's two detections (her face, and the mission patch), and the crowd's 20 largest.
    assert analyzer._predictor.calls == 22 and analyzer._encoder.calls == 22
    analysis = {"faces": comparison["faces"], "reference": {"status": "ok", "face_count": 1}, **comparison}
    verdict = decide(analysis, PolicyConfig.from_settings(Settings()))
    assert "MULTIPLE_FACES" in {reason.code for reason in verdict.reasons}
