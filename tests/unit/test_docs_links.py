"""The docs hold together: every relative link and anchor resolves, the README stays a front door.

Anchors are made as GitHub makes them from a heading (lower case; letters, digits, `-` and `_`
kept, spaces to `-`, a repeated heading gets `-1`, `-2`, ...). Fenced code and inline code are
not read: a `# comment` in a shell block is no heading, a `[[0,1]]` no link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]
)
README_MAX_LINES = 300

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = INLINE_LINK.sub(r"\1", heading).replace("`", "").lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a document's headings make, numbered as GitHub numbers repeats."""
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """The relative links of a document whose file or anchor does not exist."""
    broken = []
    for line in prose(path.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("## Endpoints", "endpoints"),
        ("## `plan` and the kubectl plugin", "plan-and-the-kubectl-plugin"),
        ("## `soak.py`: every hostile input at once", "soakpy-every-hostile-input-at-once"),
        (
            '## What makes "replicas == eligible nodes" mean one pod per node',
            "what-makes-replicas--eligible-nodes-mean-one-pod-per-node",
        ),
        ("### Results at 1,000 and 3,000 nodes", "results-at-1000-and-3000-nodes"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, expected: str) -> None:
    match = HEADING.match(heading)
    assert match is not None
    assert slug(match.group(1)) == expected


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path: Path) -> None:
    """The checker itself: a missing file and a missing heading fail, code is not read."""
    (tmp_path / "other.md").write_text("# Other\n\n## Same\n\n## Same\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n[ok](other.md#same-1) [self](#doc) [web](https://example.com/x#y)\n"
        "[gone](missing.md) [bad](other.md#same-2) `[code](missing.md)`\n\n"
        "```sh\n[fenced](missing.md)\n```\n"
    )
    assert broken_links(doc) == ["missing.md: no such file", "other.md#same-2: no such heading"]


def test_the_readme_fits_a_front_door() -> None:
    """The README is what a newcomer reads first; reference goes to docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_MAX_LINES


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_cites_the_project_s_issue_numbers(path: Path) -> None:
    """A reader has no tracker: 'issue 13' tells them nothing (upstream links are fine)."""
    assert re.findall(r"\bissues?\s+#?\d+", path.read_text(), flags=re.IGNORECASE) == []
