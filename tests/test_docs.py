"""The README and docs/: every relative link resolves, to a file and, where it names one, a heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MAX_LINES = 200


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    outside_code, found = True, set()
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            outside_code = not outside_code
        elif outside_code and (match := re.match(r"#{1,6} (.+)", line)):
            found.add(slug(match.group(1)))
    return found


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in relative_links(ROOT / "README.md")}
    orphans = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not orphans, f"docs pages the README does not link to: {orphans}"


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (limit {README_MAX_LINES})"


def test_slug_follows_github() -> None:
    assert slug("Load: `proctoring load -n 100`") == "load-proctoring-load--n-100"
    assert slug("The moto seam") == "the-moto-seam"


MODULE_MAX_LINES = 450


def test_no_module_outside_the_tests_is_longer_than_the_limit() -> None:
    modules = [*(ROOT / "functions").rglob("*.py"), *(ROOT / "proctoring_local").rglob("*.py")]
    assert len(modules) > 50
    lines = {str(path.relative_to(ROOT)): path.read_text().count("\n") for path in modules}
    long = {module: count for module, count in lines.items() if count > MODULE_MAX_LINES}
    assert not long, f"split these modules (limit {MODULE_MAX_LINES} lines): {long}"
