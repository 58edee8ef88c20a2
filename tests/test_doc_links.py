"""Links between the docs (README.md, docs/*.md) that name a section land on a heading.

Why: the docs link to each other's sections by GitHub's heading anchors, and a renamed or
moved heading breaks such a link without any other sign.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchor of each heading outside code blocks (`-1`, `-2` on repeats)."""
    found: set[str] = set()
    repeats: dict[str, int] = {}
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"#{1,6}\s+(.*)", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = repeats[slug] = repeats.get(slug, -1) + 1
            found.add(f"{slug}-{n}" if n else slug)
    return found


def test_section_links_resolve():
    broken = []
    for doc in DOCS:
        for target, anchor in LINK.findall(doc.read_text(encoding="utf-8")):
            path = (doc.parent / target).resolve() if target else doc
            if path.suffix == ".md" and path.is_file() and anchor not in anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, broken


def test_anchors_follow_github(tmp_path):
    """The rule the check relies on: punctuation dropped, spaces to hyphens, repeats
    numbered, code blocks' `#` lines no headings."""
    doc = tmp_path / "d.md"
    doc.write_text("# Pose (`microdualnet/pose/`)\n### Will a recording be read?\n## Time\n"
                   "## Time\n```bash\n# not a heading\n```\n", encoding="utf-8")
    assert anchors(doc) == {"pose-microdualnetpose", "will-a-recording-be-read", "time",
                            "time-1"}
