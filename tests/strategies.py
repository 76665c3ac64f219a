"""Hypothesis strategies for the tests: Rekognition-shaped analyses as the steps hand them on."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.builders import face

# A few round values beside any value: equal areas and equal confidences (ties) must come up.
ratios = st.one_of(st.sampled_from([0.0, 0.1, 0.2, 0.5]), st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
percent = st.one_of(st.sampled_from([0.0, 75.0, 90.0, 99.0]), st.floats(min_value=0.0, max_value=100.0))
angles = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
any_face = st.builds(
    face,
    yaw=angles,
    pitch=st.floats(min_value=-90.0, max_value=90.0, allow_nan=False),
    confidence=percent,
    brightness=percent,
    sharpness=percent,
    box=st.tuples(ratios, ratios, ratios, ratios),
)


@st.composite
def analysed_faces(draw):
    """Faces with CompareFaces' answer for each (its Similarity and BoundingBox), as the steps give them."""
    faces = draw(st.lists(any_face, max_size=4))
    matches = [{"Similarity": draw(percent), "BoundingBox": dict(one["BoundingBox"])} for one in faces]
    return faces, matches


label_names = st.sampled_from(["Person", "Cell Phone", "Mobile Phone", "Book", "Laptop", "Chair", "Headphones"])
any_label = st.fixed_dictionaries({"Name": label_names, "Confidence": percent})
any_analysis = st.fixed_dictionaries(
    {
        "faces": st.just([]),  # drawn with their compare answers in analyses()
        "image_quality": st.fixed_dictionaries({"Brightness": percent, "Sharpness": percent}),
        "reference": st.sampled_from(
            [{"status": "ok", "face_count": 1}, {"status": "missing"}, {"status": "invalid", "face_count": 2}]
        ),
        "similarity": st.one_of(st.none(), percent),
        "labels": st.one_of(
            st.fixed_dictionaries(
                {
                    "checked": st.just(True),
                    "labels": st.lists(any_label, max_size=12),
                    "person_count": st.integers(min_value=0, max_value=4),
                }
            ),
            st.fixed_dictionaries(
                {
                    "checked": st.just(False),
                    "labels": st.just([]),
                    "person_count": st.integers(min_value=0, max_value=4),
                }
            ),
        ),
    }
)


@st.composite
def analyses(draw):
    data = draw(any_analysis)
    data["faces"], data["face_matches"] = draw(analysed_faces())
    return data
