"""The alert reason codes, the one list that the policy, the settings and the documents share."""

# Most serious first. An impostor outranks company, company outranks objects, and so on.
SEVERITY = (
    "FACE_MISMATCH",
    "IDENTITY_CHANGED",
    "REPLAYED_CAPTURE",
    "MULTIPLE_FACES",
    "EXTRA_PERSON",
    "FORBIDDEN_OBJECT",
    "AWAY",
    "NO_FACE",
    "LOOKING_AWAY_SUSTAINED",
    "LOOKING_AWAY",
    "REFERENCE_INVALID",
    "REFERENCE_MISSING",
    "LOW_QUALITY",
)
