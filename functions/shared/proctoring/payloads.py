"""The state that passes between the steps, declared once.

Each step's input and output is a JSON object; these TypedDicts name their fields and types, so
the handlers, the domain code and the tests agree on one shape. The state machine accumulates them
under the ResultPaths of ``statemachine/proctoring.asl.json`` (``ExecutionState``); the result
document and the webhook payload are also published as JSON Schemas (``schemas/``), which a test
keeps in step with ``ResultDocument``.

Face, label and comparison fields keep Rekognition's names (``BoundingBox``, ``Confidence``...),
which both analyzers answer in.
"""

from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["OK", "ALERT", "ALERT_FINAL", "ERROR"]


class Rejection(TypedDict):
    """Why an input cannot be judged: an ``ERROR`` document's reason code and sentence."""

    code: str
    message: str


class ReferenceState(TypedDict):
    """The student's reference photo as ParseKey found it (``$.capture.reference``), and its check.

    ``unchecked``: no stored check for this ETag yet; CheckReference makes one and answers
    ``usable``, or ``unusable`` with a ``code`` (NO_FACE, SEVERAL_FACES, FACE_TOO_SMALL, IMAGE_...)
    and a ``reason`` sentence.
    """

    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    status: Literal["unchecked", "usable", "unusable"]
    code: NotRequired[str]
    reason: NotRequired[str]
    face_count: NotRequired[int]
    pose: NotRequired["Pose"]  # the reference's face: the student's usual pose until their captures say it
    fingerprint: NotRequired[str]  # of the decoded photo: a capture equal to it is a replayed picture


class StoredReferenceCheck(TypedDict):
    """``reference-checks/{name}.json``: a reference's check, for the ETag and analyzer it names."""

    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    status: Literal["usable", "unusable"]
    code: NotRequired[str]
    reason: NotRequired[str]
    face_count: NotRequired[int]
    face: NotRequired["Face"]
    pose: NotRequired["Pose"]
    fingerprint: NotRequired[str]
    analyzer: str
    checked_at: str


class ReferenceRequest(TypedDict):
    """CheckReference's input: from the ASL (``$.capture.reference``) or the enrolment rule."""

    bucket: str
    key: str
    version_id: NotRequired[str | None]


class Capture(TypedDict):
    """ParseKey's output (``$.capture``): which upload this execution is about, and its reference
    (None when the student has none)."""

    bucket: str
    key: str
    s3_input: str
    etag: str | None
    version_id: str | None
    sequencer: str | None
    idempotency_key: str
    exam_id: str | None
    user_id: str | None
    file_name: str | None
    result_key: str
    size: NotRequired[int | None]
    reference: NotRequired[ReferenceState | None]
    reference_expected: NotRequired[str]
    captured_at: NotRequired[str | None]  # the S3 event's time (ISO 8601); locally the file's
    rejection: NotRequired[Rejection]


class BoundingBox(TypedDict):
    Width: float
    Height: float
    Left: float
    Top: float


class Pose(TypedDict, total=False):
    """In degrees; Rekognition's model marks each as optional."""

    Yaw: float
    Pitch: float
    Roll: float


class FaceQuality(TypedDict, total=False):
    """0-100; Rekognition's model marks each as optional."""

    Brightness: float
    Sharpness: float


class Face(TypedDict):
    """One face as DetectFaces describes it (``Pose`` is absent where it could not be estimated)."""

    BoundingBox: BoundingBox
    Confidence: float
    Pose: NotRequired[Pose]
    Quality: NotRequired[FaceQuality]
    Landmarks: NotRequired[list[dict[str, Any]]]


class ImageInfo(TypedDict):
    width: int
    height: int
    format: str


class StepInput(TypedDict):
    """What the ASL passes each image step: ``{"capture.$": "$.capture"}``."""

    capture: Capture


class DetectedFaces(TypedDict):
    """The capture's faces (``$.analysis.faces``), or why the image cannot be analysed.

    ``face_count`` counts the faces at or above FACE_MIN_CONFIDENCE. It is None only where
    CompareFaces answered with InvalidParameterException, which is how it says it found no face
    (and also how it refuses a bad request): DetectFaces then tells which.
    """

    face_count: int | None
    faces: list[Face]
    image_quality: NotRequired[FaceQuality | None]
    image: NotRequired[ImageInfo]
    rejection: NotRequired[Rejection]
    fingerprint: NotRequired[str]  # proctoring.images.pixel_fingerprint of the decoded capture


class ReferenceCheck(TypedDict):
    """What the policy reads of the reference."""

    status: Literal["ok", "invalid", "missing"]
    face_count: NotRequired[int]
    error_code: NotRequired[str]
    error: NotRequired[str]


class FaceMatch(TypedDict, total=False):
    Similarity: float
    BoundingBox: BoundingBox
    Distance: float  # the local analyzer's embedding distance, behind its similarity


class Comparison(TypedDict):
    """The capture's similarity to the (usable) reference: the best, and each face's."""

    similarity: float | None
    face_matches: list[FaceMatch]


class Label(TypedDict):
    Name: str
    Confidence: float
    Instances: NotRequired[list[dict[str, Any]]]
    InstanceCount: NotRequired[int]
    Aliases: NotRequired[list[dict[str, Any]]]
    Parents: NotRequired[list[dict[str, Any]]]
    Categories: NotRequired[list[dict[str, Any]]]


class DetectedLabels(TypedDict):
    """DetectLabels' output: ``checked`` is false where objects could not be looked for (offline)."""

    checked: bool
    labels: list[Label]
    person_count: int | None
    note: NotRequired[str]
    rejection: NotRequired[Rejection]  # the image cannot be analysed: nothing was asked


class ComparedFaces(DetectedFaces):
    """CompareToReference's output: the capture's faces as CompareFaces describes them while it
    compares them with the reference, and the comparison."""

    comparison: Comparison


class Analysis(TypedDict):
    """``$.analysis``: the capture's faces (compared with the reference when it is usable) and labels."""

    faces: DetectedFaces | ComparedFaces
    labels: DetectedLabels


class Reason(TypedDict):
    code: str
    message: str
    evidence: dict[str, Any]


class ObjectVersion(TypedDict):
    version_id: str | None
    etag: str | None
    sequencer: str | None


class Notification(TypedDict):
    """The delivery record in a result document (absent from the webhook payload)."""

    status: Literal["pending", "not_configured", "delivered", "failed"]
    attempts: NotRequired[int | None]
    http_status: NotRequired[int | None]
    delivered_at: NotRequired[str]
    last_error: NotRequired[str]


class DocumentError(TypedDict):
    name: str
    message: str


class Rejudged(TypedDict):
    """In a document a re-score wrote: its run, and the verdict the capture had before it."""

    run: str
    previous_status: Status | None
    previous_reason: NotRequired[str | None]


class RescoreMarker(TypedDict):
    """``$.rescore`` in a re-score's item: the run, and the document the capture had."""

    run: str
    previous_status: Status | None
    previous_reason: str | None
    previous_digest: NotRequired[str | None]  # proctoring.result.verdict_digest of the document before


class ResultDocument(TypedDict):
    """The verdict document at ``results/{exam}/{user}/{file}.json`` (``schemas/result.schema.json``)."""

    schema_version: str
    status: Status
    reason: str
    reasons: list[Reason]
    details: list[str]
    face: Face | None
    exam_id: str | None
    user_id: str | None
    capture: NotRequired[str | None]
    captured_at: NotRequired[str | None]
    s3_input: str
    object_version: ObjectVersion
    alert_count: int | None
    analyzer: str
    processed_at: str
    analysis: NotRequired[dict[str, Any] | None]
    error: NotRequired[DocumentError]
    notification: Notification | None
    rejudged: NotRequired[Rejudged]
    decisions: NotRequired[list[dict[str, Any]]]  # a proctor's, oldest first (proctoring.decisions)


class JudgedResult(TypedDict):
    """DecideVerdict's and RecordFailure's output (``$.result``): the document and where it goes."""

    bucket: str
    key: str
    idempotency_key: str
    failed: bool
    document: ResultDocument
    sequencer: NotRequired[str | None]
    unchanged: NotRequired[bool]  # a re-score's verdict equal to the document's: nothing written or sent


class PersistRequest(TypedDict):
    """PersistResult's input, built by the ASL from ``$.result`` and the delivery's outcome."""

    bucket: str
    key: str
    document: ResultDocument
    sequencer: str | None
    notification: NotRequired[Notification]
    notification_error: NotRequired[dict[str, Any]]
    only_if_absent: NotRequired[bool]


class Persisted(TypedDict):
    """PersistResult's output (``$.persisted``); ``uri`` None: a document already there was kept."""

    uri: str | None
    key: str
    status: Status
    written: bool
    superseded: bool


class NotifyRequest(TypedDict):
    """Notify's input: where the document is, the document, the delivery's idempotency key, and
    the ASL's retry count."""

    bucket: str
    key: str
    document: ResultDocument
    sequencer: str | None
    idempotency_key: str
    retry_count: NotRequired[int]


class Delivery(TypedDict):
    """Notify's output (``$.notification``)."""

    status: Literal["delivered"]
    attempts: int
    http_status: int
    delivered_at: NotRequired[str]


class Notified(TypedDict):
    """Notify's output (``$.notified``): the delivery, and the document as it records it."""

    delivery: Delivery
    persisted: Persisted


class RescoreRequest(TypedDict):
    """The rescore state machine's input, as CheckRescoreRequest returns it: the exam, the students
    (all when empty), and settings that override the deployment's for this run (env names)."""

    exam_id: str
    students: list[str]
    overrides: dict[str, str]
    run: str


class ExecutionState(TypedDict):
    """The whole state of one execution, as the ASL's ResultPaths accumulate it. ``detail`` (the
    S3 event's) is there until ParseKey has read it, and again in RecordFailure's input when
    ParseKey itself failed."""

    detail: NotRequired[dict[str, Any]]
    settings: NotRequired[dict[str, Any]]
    capture: NotRequired[Capture]
    analysis: NotRequired[Analysis]
    result: NotRequired[JudgedResult]
    error: NotRequired[dict[str, Any]]
    persisted: NotRequired[Persisted]
    notified: NotRequired[Notified]
    notification_error: NotRequired[dict[str, Any]]
    # A re-score's item only: what it does again, the run, and the overridden settings.
    plan: NotRequired[Literal["reuse", "compare", "analyse"]]
    rescore: NotRequired[RescoreMarker]
    policy_overrides: NotRequired[dict[str, str]]
