#!/usr/bin/env python3
"""Fails when a relative link in README.md or docs/**/*.md does not resolve.

usage: check_links.py REPO_ROOT

Every inline link or image `[text](target)` / `![alt](target)` and every reference definition
`[label]: target` outside fenced code blocks and inline code spans is checked, unless its target
has a scheme (http:, https:, mailto:, ...):
  - the path part, relative to the linking file (or to REPO_ROOT when it starts with '/'), must
    name an existing file or folder inside REPO_ROOT;
  - an anchor (`#part`) must match a heading of the target Markdown file (or of the linking file
    for `#part` alone), slugged as GitHub does: lowercase; every character that is not a letter,
    digit, mark, '_', '-' or space dropped; each space turned into '-'; a repeated slug gets
    '-1', '-2', ... An anchor into another kind of file must be a line anchor (#L10, #L10-L20).

Prints one line per broken link, `FILE:LINE: broken link 'TARGET': REASON`, and exits 1 if there
is any; otherwise prints how many links it checked and exits 0. Standard library only.
"""
import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); text may hold one level of brackets ([`x`][y]).
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LINE_ANCHOR = re.compile(r"^L\d+(-L\d+)?$")


def prose_lines(text):
    """(line number, line) for every line outside fenced code blocks, inline code removed."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                continue
            yield number, INLINE_CODE.sub("", line)
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line.strip()[len(m.group(1)):].strip():
            fence = None


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    out = []
    for ch in text.lower():
        if ch in "-_ " or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            out.append("-" if ch == " " else ch)
    return "".join(out)


def anchors(path, cache={}):
    """The set of anchors the headings of a Markdown file define."""
    if path not in cache:
        seen, found = {}, set()
        for _, line in prose_lines(path.read_text(encoding="utf-8")):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2).replace("`", ""))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
        cache[path] = found
    return cache[path]


def links(text):
    """(line number, target) of every link outside code."""
    for number, line in prose_lines(text):
        for m in INLINE_LINK.finditer(line):
            yield number, m.group(1)
        m = REFERENCE_DEF.match(line)
        if m:
            yield number, m.group(1)


def problem(root, source, target):
    """Why `target`, linked from `source`, does not resolve; None when it does."""
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part:
        base = root if path_part.startswith("/") else source.parent
        dest = (base / path_part.lstrip("/")).resolve()
        if root != dest and root not in dest.parents:
            return "points outside the repository"
        if not dest.exists():
            return "no such file or folder"
    else:
        dest = source
    if not anchor:
        return None
    anchor = unquote(anchor)
    if dest.is_dir():
        return "an anchor on a folder"
    if dest.suffix.lower() != ".md":
        return None if LINE_ANCHOR.match(anchor) else f"no heading anchors in a {dest.suffix} file"
    if anchor not in anchors(dest):
        return f"no heading '#{anchor}' in {dest.relative_to(root)}"
    return None


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    files = [root / "README.md"] + sorted((root / "docs").rglob("*.md"))
    files = [f for f in files if f.is_file()]
    if not files:
        print(f"check_links: no README.md or docs/*.md under {root}", file=sys.stderr)
        return 2
    broken = checked = 0
    for f in files:
        for number, target in links(f.read_text(encoding="utf-8")):
            if SCHEME.match(target.strip("<")):
                continue
            checked += 1
            why = problem(root, f, target)
            if why:
                broken += 1
                print(f"{f.relative_to(root)}:{number}: broken link '{target}': {why}")
    if broken:
        print(f"check_links: {broken} of {checked} relative links broken")
        return 1
    print(f"check_links: {checked} relative links in {len(files)} files resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
