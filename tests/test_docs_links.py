"""Every relative link in README.md and docs/*.md points at a file or folder that exists.

Web links (http, https, mailto) and links to an anchor of the same page are not checked; a link's #fragment
is dropped before the path is looked up. Code blocks and inline code are skipped: they hold commands, not links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:")


def links(text: str) -> list[str]:
    """The link targets of a Markdown page, outside code."""
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def broken_links(page: Path) -> list[str]:
    missing = []
    for target in links(page.read_text(encoding="utf-8")):
        if target.startswith(EXTERNAL) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not (page.parent / path).exists():
            missing.append(target)
    return missing


def test_the_link_finder_sees_links_and_skips_code():
    text = ("[a](x.md) ![b](img/y.png \"title\") [c](https://e.org) [d](#here) `[e](no.md)`\n"
            "```\n[f](no.md)\n```\n[g]: z.md#part\n")
    assert links(text) == ["x.md", "img/y.png", "https://e.org", "#here", "z.md#part"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)} links to files that do not exist"
