"""Every relative link of README.md and docs/**/*.md resolves (issue 28,
item 1): the file or folder exists in the checkout, and a ``#anchor`` is a
heading of the page it points to (GitHub's heading ids).

Links inside code blocks and inline code are not links; ``http(s)://`` and
``mailto:`` links are not checked (no network here).
"""
import glob
import os.path as osp
import re
from typing import Dict, List, Set, Tuple

import pytest

from test_train_helpers import ROOT

#: ``[text](target)`` and ``![alt](target)``; the target up to a space or
#: the closing parenthesis (a title after a space is ignored).
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
#: Targets that branches merged beside this one add (issue 28: the console
#: commands' page, the export phases of the architecture page). A pending
#: target may be missing; once merged it is checked like any other. Drop an
#: entry when its target is on the main branch.
PENDING = {'docs/commands.md'}
FENCE = re.compile(r'^(```|~~~).*?^\1', re.M | re.S)
INLINE_CODE = re.compile(r'`[^`\n]*`')


def pages() -> List[str]:
    found = [osp.join(ROOT, 'README.md')]
    found += glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)
    return sorted(found)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code."""
    return INLINE_CODE.sub('', FENCE.sub('', text))


def slug(heading: str) -> str:
    """GitHub's id of a heading: lower case, markup and punctuation
    dropped (letters, digits, ``_``, ``-`` and spaces kept), each space a
    hyphen."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # link text
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: str) -> Set[str]:
    """The heading ids of a markdown file (repeats get ``-1``, ``-2``)."""
    with open(path, encoding='utf-8') as f:
        text = FENCE.sub('', f.read())
    seen: Dict[str, int] = {}
    ids = set()
    for m in re.finditer(r'^#{1,6}\s+(.*?)\s*#*\s*$', text, re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        ids.add(base if n == 0 else f'{base}-{n}')
        seen[base] = n + 1
    ids |= set(re.findall(r'<a (?:name|id)="([^"]+)"', text))
    return ids


def links(path: str) -> List[Tuple[int, str]]:
    """The relative link targets of a page: (line, target)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    # Blank out code so line numbers stay right.
    blank = lambda m: re.sub(r'[^\n]', ' ', m.group(0))  # noqa: E731
    text = INLINE_CODE.sub(blank, FENCE.sub(blank, text))
    found = []
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
            continue  # http:, https:, mailto:
        found.append((text[:m.start()].count('\n') + 1, target))
    return found


def broken(path: str) -> List[str]:
    """What is wrong with each relative link of ``path``."""
    problems = []
    for line, target in links(path):
        where = f'{osp.relpath(path, ROOT)}:{line}: {target}'
        file_part, _, anchor = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(path), file_part)) \
            if file_part else path
        name = osp.relpath(dest, ROOT)
        if (name in PENDING and not osp.exists(dest)) or (
                f'{name}#{anchor}' in PENDING and anchor not in (
                    anchors(dest) if osp.exists(dest) else set())):
            continue
        if not osp.exists(dest):
            problems.append(f'{where}: no such file')
            continue
        if anchor and dest.endswith('.md') and anchor not in anchors(dest):
            problems.append(f'{where}: no heading #{anchor} in '
                            f'{osp.relpath(dest, ROOT)}')
    return problems


def test_slug_follows_github():
    """The ids GitHub gives headings of these kinds (as linked before)."""
    assert slug('NMS on the host (`--nms host`)') == \
        'nms-on-the-host---nms-host'
    assert slug('Parity (f32, tested in `tests/test_deploy_*.py`)') == \
        'parity-f32-tested-in-teststest_deploy_py'
    assert slug('Ours or TIMMBackbone?') == 'ours-or-timmbackbone'


def test_checker_finds_a_broken_link(tmp_path):
    """The check can fail: a missing file and a missing heading are
    reported, a good link and a link in code are not."""
    (tmp_path / 'other.md').write_text('# Title\n\n## A section\n')
    page = tmp_path / 'page.md'
    page.write_text('[ok](other.md#a-section) [gone](nothere.md)\n'
                    '[bad anchor](other.md#no-section) `[code](x.md)`\n'
                    '```\n[in a block](y.md)\n```\n[web](https://x.org)\n')
    problems = broken(str(page))
    assert len(problems) == 2, problems
    assert 'nothere.md: no such file' in problems[0]
    assert 'no heading #no-section' in problems[1]


@pytest.mark.parametrize('page', [osp.relpath(p, ROOT) for p in pages()])
def test_relative_links_resolve(page):
    """Every relative link of the page names an existing file, and its
    anchor a heading there."""
    problems = broken(osp.join(ROOT, page))
    assert not problems, '\n'.join(problems)
