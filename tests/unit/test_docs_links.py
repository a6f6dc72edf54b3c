# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Relative links in README.md and docs/*.md point at files, and at headings, that exist.

Checked: inline links and images ``[text](path)``, ``[text](path#anchor)``, ``[text](#anchor)``
and reference definitions ``[label]: path``. Skipped: links with a URL scheme (``http:``,
``https:``, ``mailto:``, ...), links inside fenced code blocks, inline code spans and HTML
comments. A path is relative to the Markdown file's directory and must stay inside the
repository. An anchor into a Markdown file must match one of its headings, slugged the way
GitHub does it. No network.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]

FENCE_RE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
ATX_HEADING_RE = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?[ \t]*$")
SETEXT_UNDERLINE_RE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
INLINE_LINK_RE = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(?P<target><[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(?P<target><[^>]*>|\S+)")
CODE_SPAN_RE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HTML_COMMENT_RE = re.compile(r"<!--.*?-->")
SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class Link(NamedTuple):
    line: int
    target: str


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    fence: Optional[str] = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE_RE.match(line)
        if fence is None:
            if match:
                fence = match.group("fence")
                continue
            yield number, line
        elif match and match.group("fence")[0] == fence[0] and len(match.group("fence")) >= len(fence) \
                and not line.strip()[len(match.group("fence")):].strip():
            fence = None


def links(text: str) -> List[Link]:
    """Every link target of a Markdown text, outside code blocks, code spans and comments."""
    found = []
    for number, line in _prose_lines(text):
        line = HTML_COMMENT_RE.sub("", CODE_SPAN_RE.sub("", line))
        definition = REFERENCE_DEF_RE.match(line)
        if definition:
            found.append(Link(number, definition.group("target").strip("<>")))
            continue
        found.extend(Link(number, m.group("target").strip("<>")) for m in INLINE_LINK_RE.finditer(line))
    return found


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: the text without Markdown markup, lower-cased,
    without punctuation other than '-' and '_', each space replaced by '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)                          # HTML tags
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)                # _emphasis_, not snake_case
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text's headings (ATX and setext), with GitHub's -1, -2, ...
    suffixes for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    previous = ""
    for _number, line in _prose_lines(text):
        heading = None
        atx = ATX_HEADING_RE.match(line)
        if atx:
            heading = re.sub(r"[ \t]+#+$", "", atx.group("text") or "")
        elif SETEXT_UNDERLINE_RE.match(line) and previous.strip() and not ATX_HEADING_RE.match(previous):
            heading = previous.strip()
        previous = line if heading is None else ""
        if heading is None:
            continue
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(markdown: Path, root: Path) -> List[str]:
    """The relative links of one Markdown file that do not resolve, as 'file:line: target: why'."""
    text = markdown.read_text(encoding="utf-8")
    problems = []
    for link in links(text):
        if SCHEME_RE.match(link.target) or link.target.startswith("//"):
            continue
        path_part, _sep, anchor = link.target.partition("#")
        where = f"{markdown.relative_to(root)}:{link.line}: {link.target}"
        target = (markdown.parent / unquote(path_part)).resolve() if path_part else markdown.resolve()
        if target != root.resolve() and root.resolve() not in target.parents:
            problems.append(f"{where}: points outside the repository")
            continue
        if not target.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor and target.is_file() and target.suffix.lower() in (".md", ".markdown"):
            if unquote(anchor).lower() not in anchors(target.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with the anchor #{anchor} in {target.relative_to(root.resolve())}")
    return problems


def markdown_files() -> List[Path]:
    return [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


@pytest.mark.parametrize("markdown", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(markdown):
    assert broken_links(markdown, REPO) == []


def test_readme_links_every_page_of_docs():
    linked = {(REPO / link.target.partition("#")[0]).resolve()
              for link in links((REPO / "README.md").read_text(encoding="utf-8"))
              if not SCHEME_RE.match(link.target) and link.target.partition("#")[0]}
    missing = [str(p.relative_to(REPO)) for p in sorted((REPO / "docs").glob("*.md")) if p.resolve() not in linked]
    assert missing == [], "README.md does not link these pages: " + ", ".join(missing)


# The checker itself, on files it must reject and files it must accept.

def test_checker_reports_missing_files_and_anchors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Known problems\n")
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text(
        "# Bad page\n"
        "[gone](missing.md)\n"
        "[wrong anchor](other.md#unknown-problems)\n"
        "[own anchor](#no-such-heading)\n"
        "![image](img/none.png)\n"
        "[outside](../../etc/passwd)\n"
        "[ref]: nowhere.md\n")
    problems = broken_links(bad, tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "docs/bad.md:2", "docs/bad.md:3", "docs/bad.md:4", "docs/bad.md:5", "docs/bad.md:6", "docs/bad.md:7"]
    assert "no such file" in problems[0]
    assert "#unknown-problems" in problems[1] and "#no-such-heading" in problems[2]
    assert "outside the repository" in problems[4]


def test_checker_accepts_good_links_and_skips_code_and_urls(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "inventories").mkdir()
    (tmp_path / "docs" / "other.md").write_text(
        "# Other page\n\n## Forks, serial and job slicing\n\nSetext heading\n--------------\n\n"
        "```text\n# not a heading\n```\n")
    good = tmp_path / "docs" / "good.md"
    good.write_text(
        "# Good page\n\n## Known `mesh_workload_prune` problems\n\n"
        "[page](other.md) [section](other.md#forks-serial-and-job-slicing) [setext](other.md#setext-heading)\n"
        "[here](#known-mesh_workload_prune-problems) [dir](../inventories/) [space](other%2Emd)\n"
        "[web](https://example.com/missing.md) [mail](mailto:someone@example.com)\n"
        "`[code span](missing.md)` <!-- [comment](missing.md) -->\n"
        "```sh\n[in a fence](missing.md)\n```\n"
        "~~~~\n```\n[still fenced](missing.md)\n~~~~\n")
    assert broken_links(good, tmp_path) == []
    assert "not-a-heading" not in anchors((tmp_path / "docs" / "other.md").read_text())


@pytest.mark.parametrize("heading, slug", [
    ("Forks, serial and job slicing", "forks-serial-and-job-slicing"),
    ("Empty hosts file: the gateway publishes a hostname", "empty-hosts-file-the-gateway-publishes-a-hostname"),
    ("When the cluster credential is missing or wrong", "when-the-cluster-credential-is-missing-or-wrong"),
    ("1. Start the lab", "1-start-the-lab"),
    ("`mesh_workload_capture_dns` and DNS", "mesh_workload_capture_dns-and-dns"),
    ("A & B", "a--b"),
    ("[Linked](x.md) *text*", "linked-text"),
])
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_repeated_headings_get_numbered_anchors():
    assert anchors("# Notes\n## Notes\n### Notes\n") == {"notes", "notes-1", "notes-2"}
