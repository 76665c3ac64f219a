"""``proctoring report DIR|s3://BUCKET --exam ID``: one student per row, their captures as a
timeline, in one self-contained HTML page.

Each row: the student's reference photo; a strip with one mark per capture, coloured by status,
at its time (the document's ``captured_at``), which shows the capture, its boxes and its reasons when
clicked (alerts and errors only: an OK capture is a mark); and the totals: captures, time present,
time looking away, alerts, ALERT_FINAL. Pictures are small thumbnails made for the page, never the
originals, and only of the captures that need a look, so a page of thousands of captures stays
light; its header says what it holds. The page holds students' faces: keep it as the captures.

``proctoring dashboard`` serves the same page, kept up to date (``services.dashboard``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from proctoring_local.services.html_page import content_security_policy, script_json

NEEDS_A_LOOK = ("ALERT_FINAL", "ALERT", "ERROR")
DEFAULT_MAX_PICTURES = 400
REFERENCE_SIDE = 96
CAPTURE_SIDE = 320


def _time(document: dict[str, Any]) -> float | None:
    text = document.get("captured_at") or document.get("processed_at")
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None


def _observation(document: dict[str, Any], t: float | None, threshold: float) -> Any:
    """What the timeline holds of a capture, read back from its document."""
    from proctoring.windows import Observation

    analysis = document.get("analysis") or {}
    source = str(document.get("s3_input", ""))
    return Observation.of(
        source,
        source,
        t or 0.0,
        present=bool(analysis.get("face_count")),
        similarity=analysis.get("similarity"),
        pose=(document.get("face") or {}).get("Pose") or {},
        threshold=threshold,
    )


def _mark_turned(captures: list[dict[str, Any]], settings: Any, reference_pose: tuple[float, float] | None) -> None:
    """Each capture's ``turned``: a looking-away reason, or the head turned from the student's usual
    pose as the pipeline judges it (``proctoring.windows``), in time order."""
    from proctoring.windows import is_turned, usual_pose

    observations = [_observation(c.pop("document"), c["t"], settings.similarity_threshold) for c in captures]
    for index, capture in enumerate(captures):
        codes = {reason["code"] for reason in capture["reasons"]}
        usual = usual_pose(observations[:index], reference_pose)
        capture["turned"] = bool(codes & {"LOOKING_AWAY", "LOOKING_AWAY_SUSTAINED"}) or is_turned(
            observations[index], usual, settings
        )


def _reference_pose(target: Any, reference: str | None, reference_prefix: str) -> tuple[float, float] | None:
    """The pose kept in the reference's check, as the pipeline's prior of the usual pose."""
    import json

    from proctoring.references import check_key

    if reference is None:
        return None
    try:
        pose = json.loads(target.storage.read(target.bucket, check_key(reference, reference_prefix))).get("pose")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return (float(pose["Yaw"]), float(pose.get("Pitch", 0.0))) if pose and "Yaw" in pose else None


def totals(captures: list[dict[str, Any]]) -> dict[str, Any]:
    """A student's totals; time present and looking away are the intervals between consecutive
    captures, counted as the earlier capture saw them (the last capture adds no time)."""
    present = looking_away = 0.0
    for earlier, later in pairwise(captures):
        if earlier["t"] is None or later["t"] is None:
            continue
        gap = max(0.0, later["t"] - earlier["t"])
        if earlier["faces"]:
            present += gap
            if earlier["turned"]:
                looking_away += gap
    return {
        "captures": len(captures),
        "present_seconds": round(present),
        "looking_away_seconds": round(looking_away),
        "alerts": sum(capture["status"] in {"ALERT", "ALERT_FINAL"} for capture in captures),
        "alert_final": sum(capture["status"] == "ALERT_FINAL" for capture in captures),
    }


# A picture for the page: (URI, None), or (None, why it cannot be shown).
Picture = tuple[str | None, str | None]
# Makes the picture of the object at a key, at a side, with face boxes drawn.
PictureMaker = Callable[[Any, str, int, Any], Picture]


def report_model(
    target: Any, exam: str, max_pictures: int = DEFAULT_MAX_PICTURES, pictures: PictureMaker | None = None
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data. ``pictures`` makes each picture's URI: by
    default a thumbnail inside the page (a data URI); the dashboard's are URLs it serves."""
    make = pictures or inline_picture
    from proctoring.config import Settings
    from proctoring_local.services.review_page import face_boxes, reference_key
    from proctoring_local.services.verdicts import bucket_results, folder_results, natural_order, read_verdicts

    settings = Settings.from_env()
    prefix = f"{settings.results_prefix}{exam}/"
    if target.on_s3:
        keys: Iterator[str] = bucket_results(target.s3, target.bucket, prefix)
    else:
        keys = (key for key in folder_results(target.root, settings.results_prefix) if key.startswith(prefix))
    verdicts, _unreadable = read_verdicts(target, keys)
    students: dict[str, list[dict[str, Any]]] = defaultdict(list)
    sources: dict[str, str] = {}
    for verdict in verdicts:
        document = verdict.document
        capture_key = verdict.capture_key(target.bucket)
        students[verdict.user_id].append(
            {
                "capture": verdict.capture,
                "key": capture_key,
                "t": _time(document),
                "time": document.get("captured_at") or document.get("processed_at"),
                "status": verdict.status,
                "reasons": [{"code": r.get("code"), "message": r.get("message")} for r in document["reasons"]],
                "alert_count": document.get("alert_count"),
                "faces": int((document.get("analysis") or {}).get("face_count") or 0),
                "document": document,  # read for the turns below, then dropped
                "boxes": face_boxes(document),
                "picture": None,
                "picture_note": None,
            }
        )
        if capture_key:
            sources.setdefault(verdict.user_id, capture_key)
    for student, captures in students.items():
        captures.sort(key=lambda capture: (capture["t"] is None, capture["t"] or 0.0, capture["capture"]))
        source = sources.get(student)
        reference = reference_key(target, source, settings.images_prefix, settings.reference_prefix) if source else None
        _mark_turned(captures, settings, _reference_pose(target, reference, settings.reference_prefix))
    wanted = [c for captures in students.values() for c in captures if c["status"] in NEEDS_A_LOOK and c["key"]]
    pictured = wanted[:max_pictures]

    def reference_of(source: str) -> str | None:
        key = reference_key(target, source, settings.images_prefix, settings.reference_prefix)
        return make(target, key, REFERENCE_SIDE, ())[0] if key else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = pool.map(lambda c: make(target, c["key"], CAPTURE_SIDE, c["boxes"]), pictured)
        for capture, (picture, note) in zip(pictured, made, strict=True):
            capture["picture"], capture["picture_note"] = picture, note
        references = dict(zip(sources, pool.map(reference_of, sources.values()), strict=True))
    rows: list[dict[str, Any]] = [
        {"student": student, "reference": references.get(student), "captures": captures, "totals": totals(captures)}
        for student, captures in sorted(students.items(), key=lambda item: natural_order(item[0]))
    ]
    for row in rows:
        for capture in row["captures"]:
            capture.pop("boxes")
            capture.pop("key")
    return {
        "exam": exam,
        "source": target.text,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "holds": {
            "students": len(rows),
            "captures": sum(len(row["captures"]) for row in rows),
            "pictures": len(pictured),
            "needing_a_look": len(wanted),
        },
        "students": rows,
    }


def inline_picture(target: Any, key: str, side: int, boxes: Any = ()) -> Picture:
    """A thumbnail of the object at ``key`` as a data URI; or why it cannot be shown. At most the
    size a capture may have is read: a larger file is said to be too large, never loaded."""
    from proctoring_local.services.review_page import read_thumbnail, thumbnail_uri

    data, note = read_thumbnail(target, key, side, boxes)
    return (thumbnail_uri(data), None) if data is not None else (None, note)


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em; color: #222; }
header p { margin: .2em 0; color: #555; }
table { border-collapse: collapse; width: 100%; }
td, th { border-top: 1px solid #ddd; padding: .4em; vertical-align: middle; text-align: left; }
th { font-weight: 600; }
.ref img { width: 64px; height: 64px; object-fit: cover; border-radius: 4px; }
.strip { display: flex; flex-wrap: wrap; gap: 2px; max-width: 720px; }
.mark { width: 12px; height: 22px; border: 0; padding: 0; border-radius: 2px; cursor: pointer; }
.OK { background: #2e7d32; } .ALERT { background: #e08a00; } .ALERT_FINAL { background: #b00020; }
.ERROR { background: #666; }
.num { text-align: right; white-space: nowrap; }
#detail { background: #fafafa; border-top: 2px solid #ccc; padding: .6em; margin-top: 1em; }
#detail img { max-width: 320px; float: left; margin-right: 1em; border: 1px solid #ccc; }
.clear { clear: both; }
.warning { color: #8a4b00; }
.legend .mark { display: inline-block; cursor: default; vertical-align: middle; height: 14px; }
"""

# Every name on the page (student ids, capture names, reasons) is set as text through the DOM:
# no string is ever parsed as markup, and the policy allows no other script.
SCRIPT = """
"use strict";
const page = JSON.parse(document.getElementById("report-data").textContent);
const rows = new Map();
let generation = 0;
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
function picture(source, alt) {
  const image = el("img", {alt: alt});
  image.src = source;
  return image;
}
function duration(seconds) {
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m ? `${m} min ${s} s` : `${s} s`;
}
function show(capture, student) {
  const detail = document.getElementById("detail");
  const reasons = capture.reasons.map(r => el("li", {}, el("b", {}, r.code || ""), " " + (r.message || "")));
  const shown = capture.picture ? [picture(capture.picture, capture.capture)]
    : capture.picture_note ? [el("p", {class: "note"}, capture.picture_note)] : [];
  const count = capture.alert_count ? " · alert " + capture.alert_count : "";
  const heading = el("p", {}, el("b", {}, student), ` · ${capture.capture} · ${capture.time || ""} · `,
    el("span", {class: "status"}, capture.status), count);
  const list = el("ul", {}, ...(reasons.length ? reasons : [el("li", {}, "no reason: OK")]));
  detail.replaceChildren(...shown, heading, list, ...(page.decisions ? decisionForm(capture, student) : []),
    el("div", {class: "clear"}));
  detail.hidden = false;
  detail.dataset.capture = capture.capture;
}
function decisionForm(capture, student) {
  // A proctor's decision: sent with the page's own token, which no other page can read.
  const by = el("input", {id: "decision-by", placeholder: "your name", maxlength: "200"});
  const reason = el("input", {id: "decision-reason", placeholder: "reason", maxlength: "2000"});
  const outcome = el("p", {id: "decision-outcome", role: "status"});
  const buttons = ["confirm", "dismiss", "flag"].map(action => {
    const button = el("button", {type: "button", class: "decide", "data-action": action}, action);
    button.addEventListener("click", async () => {
      const key = `${page.decisions.images_prefix}${page.report.exam}/${student}/${capture.capture}`;
      const answer = await fetch("decisions", {method: "POST", credentials: "same-origin", cache: "no-store",
        headers: {"Content-Type": "application/json", "X-Decision-Token": page.decisions.token},
        body: JSON.stringify({capture_key: key, action: action, by: by.value, reason: reason.value})});
      const body = await answer.json();
      outcome.textContent = answer.ok ? body.message : "refused: " + body.error;
    });
    return button;
  });
  return [el("p", {class: "decision"}, by, " ", reason, " ", ...buttons), outcome];
}
function row(data) {
  const tr = el("tr");
  tr.dataset.student = data.student;
  const strip = el("div", {class: "strip"});
  for (const capture of data.captures) {
    const codes = capture.reasons.map(r => r.code).join(", ");
    const mark = el("button", {type: "button", class: "mark " + capture.status,
      title: `${capture.time || ""} ${capture.status} ${codes}`});
    mark.dataset.status = capture.status;
    mark.dataset.capture = capture.capture;
    mark.addEventListener("click", () => show(capture, data.student));
    strip.append(mark);
  }
  const t = data.totals;
  const number = value => el("td", {class: "num"}, String(value));
  tr.append(el("td", {}, data.student),
    el("td", {class: "ref"}, data.reference ? picture(data.reference, "reference of " + data.student) : "none"),
    el("td", {}, strip), number(t.captures), number(duration(t.present_seconds)),
    number(duration(t.looking_away_seconds)), number(t.alerts), number(t.alert_final));
  return tr;
}
function render(report) {
  document.getElementById("exam").textContent = report.exam;
  document.title = "Exam " + report.exam;
  const h = report.holds;
  document.getElementById("holds").textContent =
    `${h.students} students, ${h.captures} captures from ${report.source}; ${h.needing_a_look} need a look, ` +
    `${h.pictures} of them with their picture (small thumbnails, not the originals).`;
  document.getElementById("updated").textContent = (page.live ? "Live: " : "") + "as of " + report.generated_at;
  for (const data of report.students) rows.set(data.student, row(data));
  const order = report.order || report.students.map(data => data.student);
  for (const student of [...rows.keys()]) if (!order.includes(student)) rows.delete(student);
  document.getElementById("rows").replaceChildren(...order.filter(s => rows.has(s)).map(s => rows.get(s)));
  generation = report.generation || 0;
}
render(page.report);
if (page.live) {
  setInterval(async () => {
    const answer = await fetch("report.json?since=" + generation, {cache: "no-store", credentials: "same-origin"});
    if (answer.ok) render(await answer.json());
  }, page.interval_ms);
}
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<meta name="referrer" content="no-referrer">
<title>Exam report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>__STYLE__</style></head>
<body>
<header><h1>Exam <span id="exam"></span></h1><p id="holds"></p><p id="updated"></p>
<p class="legend"><span class="mark OK"></span> OK <span class="mark ALERT"></span> ALERT
<span class="mark ALERT_FINAL"></span> ALERT_FINAL <span class="mark ERROR"></span> ERROR:
click a mark for the capture</p>
<p class="warning">This page shows students' faces: keep and share it as the captures.</p></header>
<table><thead><tr><th>student</th><th>reference</th><th>timeline (one mark per capture, in time order)</th>
<th class="num">captures</th><th class="num">present</th><th class="num">looking away</th>
<th class="num">alerts</th><th class="num">ALERT_FINAL</th></tr></thead><tbody id="rows"></tbody></table>
<div id="detail" hidden></div>
<script type="application/json" id="report-data">__DATA__</script>
<script>__SCRIPT__</script></body></html>
"""


def page_policy(*, live: bool = False) -> str:
    """The page's Content-Security-Policy: its own script and style, by hash, and nothing else."""
    return content_security_policy(scripts=(SCRIPT,), styles=(STYLE,), live=live)


def render_report(
    model: dict[str, Any], *, live: bool = False, interval_ms: int = 2000, decisions: dict[str, str] | None = None
) -> str:
    """The page; ``live``: it asks the server for what changed every ``interval_ms`` and redraws;
    ``decisions`` (the dashboard's token and images prefix): each capture shown has decision buttons."""
    data = script_json({"report": model, "live": live, "interval_ms": interval_ms, "decisions": decisions})
    return (
        PAGE.replace("__CSP__", page_policy(live=live))
        .replace("__STYLE__", STYLE)
        .replace("__SCRIPT__", SCRIPT)
        .replace("__DATA__", data)
    )
