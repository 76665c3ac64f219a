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

import html
import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

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


def _turned(document: dict[str, Any], sustained_yaw: float) -> bool:
    codes = {reason.get("code") for reason in document.get("reasons") or []}
    if codes & {"LOOKING_AWAY", "LOOKING_AWAY_SUSTAINED"}:
        return True
    pose = (document.get("face") or {}).get("Pose") or {}
    return abs(float(pose.get("Yaw", 0.0))) >= sustained_yaw


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


def report_model(target: Any, exam: str, max_pictures: int = DEFAULT_MAX_PICTURES) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (the dashboard serves it as is)."""
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
                "turned": _turned(document, settings.sustained_yaw),
                "boxes": face_boxes(document),
                "picture": None,
            }
        )
        if capture_key:
            sources.setdefault(verdict.user_id, capture_key)
    for captures in students.values():
        captures.sort(key=lambda capture: (capture["t"] is None, capture["t"] or 0.0, capture["capture"]))
    wanted = [c for captures in students.values() for c in captures if c["status"] in NEEDS_A_LOOK and c["key"]]
    pictured = wanted[:max_pictures]

    def reference_of(source: str) -> str | None:
        return _thumbnail(
            target, reference_key(target, source, settings.images_prefix, settings.reference_prefix), REFERENCE_SIDE
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        pictures = pool.map(lambda c: _thumbnail(target, c["key"], CAPTURE_SIDE, c["boxes"]), pictured)
        for capture, picture in zip(pictured, pictures, strict=True):
            capture["picture"] = picture
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


def _thumbnail(target: Any, key: str | None, side: int, boxes: Any = ()) -> str | None:
    """A thumbnail of the object at ``key``; None when there is none, or it cannot be shown."""
    from proctoring.images import ImageRejected
    from proctoring_local.services.review_page import thumbnail

    if key is None:
        return None
    try:
        return thumbnail(target.storage.read(target.bucket, key), boxes, side=side)
    except (FileNotFoundError, ImageRejected):
        return None


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Exam __TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
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
#detail { background: #fafafa; border-top: 2px solid #ccc; padding: .6em; margin-top: 1em; display: none; }
#detail img { max-width: 320px; float: left; margin-right: 1em; border: 1px solid #ccc; }
.warning { color: #8a4b00; }
.legend .mark { display: inline-block; cursor: default; vertical-align: middle; height: 14px; }
</style></head>
<body>
<header><h1>Exam <span id="exam"></span></h1><p id="holds"></p><p id="updated"></p>
<p class="legend"><span class="mark OK"></span> OK <span class="mark ALERT"></span> ALERT
<span class="mark ALERT_FINAL"></span> ALERT_FINAL <span class="mark ERROR"></span> ERROR:
click a mark for the capture</p>
<p class="warning">This page shows students' faces: keep and share it as the captures.</p></header>
<table><thead><tr><th>student</th><th>reference</th><th>timeline (one mark per capture, in time order)</th>
<th class="num">captures</th><th class="num">present</th><th class="num">looking away</th>
<th class="num">alerts</th><th class="num">ALERT_FINAL</th></tr></thead><tbody id="rows"></tbody></table>
<div id="detail"></div>
<script type="application/json" id="report-data">__DATA__</script>
<script>
const LIVE = __LIVE__;
function text(value) { const span = document.createElement("span"); span.textContent = value; return span.innerHTML; }
function duration(seconds) {
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m ? `${m} min ${s} s` : `${s} s`;
}
function show(capture, student) {
  const detail = document.getElementById("detail");
  const reasons = capture.reasons.map(r => `<li><b>${text(r.code)}</b> ${text(r.message || "")}</li>`).join("");
  const picture = capture.picture ? `<img src="${capture.picture}" alt="${text(capture.capture)}">` : "";
  const count = capture.alert_count ? " · alert " + capture.alert_count : "";
  detail.innerHTML = `${picture}<p><b>${text(student)}</b> · ${text(capture.capture)} · ${text(capture.time || "")}
    · <span class="status">${text(capture.status)}</span>${count}</p>
    <ul>${reasons || "<li>no reason: OK</li>"}</ul><div style="clear:both"></div>`;
  detail.style.display = "block";
  detail.dataset.capture = capture.capture;
}
function render(report) {
  document.getElementById("exam").textContent = report.exam;
  const h = report.holds;
  document.getElementById("holds").textContent =
    `${h.students} students, ${h.captures} captures from ${report.source}; ${h.needing_a_look} need a look, ` +
    `${h.pictures} of them with their picture (small thumbnails, not the originals).`;
  document.getElementById("updated").textContent = (LIVE ? "Live: " : "") + "as of " + report.generated_at;
  const rows = document.getElementById("rows");
  rows.innerHTML = "";
  for (const row of report.students) {
    const tr = document.createElement("tr");
    tr.dataset.student = row.student;
    const ref = row.reference ? `<img src="${row.reference}" alt="reference of ${text(row.student)}">` : "none";
    const t = row.totals;
    tr.innerHTML = `<td>${text(row.student)}</td><td class="ref">${ref}</td><td><div class="strip"></div></td>
      <td class="num">${t.captures}</td><td class="num">${duration(t.present_seconds)}</td>
      <td class="num">${duration(t.looking_away_seconds)}</td><td class="num">${t.alerts}</td>
      <td class="num">${t.alert_final}</td>`;
    const strip = tr.querySelector(".strip");
    for (const capture of row.captures) {
      const mark = document.createElement("button");
      mark.className = "mark " + capture.status;
      mark.dataset.status = capture.status;
      mark.dataset.capture = capture.capture;
      mark.title = `${capture.time || ""} ${capture.status} ${capture.reasons.map(r => r.code).join(", ")}`;
      mark.addEventListener("click", () => show(capture, row.student));
      strip.appendChild(mark);
    }
    rows.appendChild(tr);
  }
}
render(JSON.parse(document.getElementById("report-data").textContent));
if (LIVE) {
  setInterval(async () => {
    const answer = await fetch("report.json", {cache: "no-store"});
    if (answer.ok) render(await answer.json());
  }, __INTERVAL__);
}
</script></body></html>
"""


def render_report(model: dict[str, Any], *, live: bool = False, interval_ms: int = 2000) -> str:
    """The page; ``live``: it asks the server for ``report.json`` every ``interval_ms`` and redraws."""
    data = json.dumps(model).replace("</", "<\\/")  # no "</script>" inside the script element
    return (
        PAGE.replace("__TITLE__", html.escape(model["exam"]))
        .replace("__LIVE__", "true" if live else "false")
        .replace("__INTERVAL__", str(interval_ms))
        .replace("__DATA__", data)
    )
