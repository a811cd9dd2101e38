"""The docs stay true: README.md, CHANGELOG.md and docs/*.md.

- every relative markdown link names a file or folder that exists, and every
  ``#anchor`` is a heading of its target (GitHub's slugs);
- every repository path shown in inline code or a code block (one beginning
  with ``tools/``, ``configs/``, ``ssd_ext/``, ``tests/``, ``docs/`` or ``.ci/``)
  exists; ``{a,b}`` expands, ``*`` globs, and an all-capitals component such as
  ``CONFIG`` is a placeholder that must match something; a module named from
  inside the package (``engine/resume/train_loop.py``) exists under ``ssd_ext/``;
- every config named in the README's tables, and every other existing config
  path shown, loads with ``Config.fromfile``;
- the README is at most 250 lines.
"""
import glob
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / 'README.md', REPO / 'CHANGELOG.md', *(REPO / 'docs').glob('*.md')])
README_MAX_LINES = 250
# Files the docs tell users to write themselves (examples, not repository files).
USER_FILES = {'configs/my_ssd300.py', 'configs/my_ssd300_voc.py'}

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
INLINE_CODE = re.compile(r'(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)', re.S)
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
REF_LINK = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$', re.M)
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')
REPO_PATH = re.compile(
    r'(?<![\w./$~-])((?:tools|configs|ssd_ext|tests|docs|\.ci)/(?:[\w.*-]|\{[\w.,*-]*\}|/)*)')
PACKAGE_MODULE = re.compile(
    r'(?<![\w./$~-])((?:models|data|engine|evaluation|deployment|apis|utils)/[\w/-]*\.py)\b')
PLACEHOLDER = re.compile(r'^[A-Z][A-Z0-9_]*(\.[\w]+)?$')


def _id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# ------------------------------------------------------------------ parsing
def split_markdown(text: str) -> Tuple[str, List[str]]:
    """(the text outside fenced code blocks, blank where the blocks were; the
    blocks' contents)."""
    prose, blocks, block, fence = [], [], [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence, block = match.group(1), []
            prose.append('')
        elif fence is not None and match and match.group(1)[0] == fence[0] \
                and len(match.group(1)) >= len(fence) and not line.strip()[len(fence):].strip():
            blocks.append('\n'.join(block))
            fence = None
            prose.append('')
        elif fence is not None:
            block.append(line)
            prose.append('')
        else:
            prose.append(line)
    if fence is not None:
        blocks.append('\n'.join(block))
    return '\n'.join(prose), blocks


def paragraphs(prose: str) -> Iterator[str]:
    yield from re.split(r'\n[ \t]*\n', prose)


def inline_code(prose: str) -> List[str]:
    return [m.group(2) for p in paragraphs(prose) for m in INLINE_CODE.finditer(p)]


def link_targets(prose: str) -> List[str]:
    """Targets of inline and reference links, outside code."""
    targets = []
    for para in paragraphs(prose):
        para = INLINE_CODE.sub('', para)
        targets += [m.group(1) for m in LINK.finditer(para)]
        targets += [m.group(1) for m in REF_LINK.finditer(para)]
    return targets


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation
    dropped (letters, digits, ``_``, ``-`` and spaces stay), spaces to ``-``."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # links: their text
    text = re.sub(r'<[^>]+>', '', text).replace('`', '')        # HTML tags, code marks
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: Path) -> Set[str]:
    prose, _ = split_markdown(path.read_text(encoding='utf-8'))
    seen: Dict[str, int] = {}
    out = set()
    for line in prose.splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f'{slug}-{n}')
    return out


def expand_braces(token: str) -> List[str]:
    match = re.search(r'\{([^{}]*)\}', token)
    if not match:
        return [token]
    head, tail = token[:match.start()], token[match.end():]
    return [x for alt in match.group(1).split(',') for x in expand_braces(head + alt + tail)]


def repo_paths(text: str) -> Set[str]:
    """Repository paths shown in inline code and code blocks; modules named
    from inside the package (``engine/compile.py``) as ``ssd_ext/...``."""
    prose, blocks = split_markdown(text)
    found = set()
    for code in inline_code(prose) + blocks:
        for match in REPO_PATH.finditer(code):
            token = match.group(1).split('::')[0].rstrip('.,:;')
            found.add(token)
        found.update('ssd_ext/' + m.group(1) for m in PACKAGE_MODULE.finditer(code))
    return found


# ----------------------------------------------------------------- checking
def link_problems(path: Path) -> List[str]:
    prose, _ = split_markdown(path.read_text(encoding='utf-8'))
    problems = []
    for target in link_targets(prose):
        if SCHEME.match(target) or target.startswith('//'):
            continue  # a URL: not checked here
        file_part, _, anchor = unquote(target).partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f'{target}: {file_part} does not exist')
            continue
        if not anchor:
            continue
        if dest.suffix != '.md':
            problems.append(f'{target}: an anchor into a file that is not markdown')
        elif anchor not in anchors(dest):
            problems.append(f'{target}: no heading #{anchor} in {dest.name}')
    return problems


def path_exists(token: str, repo: Path = REPO) -> bool:
    for path in expand_braces(token):
        if (repo / path).exists():
            continue
        parts = ['*' if PLACEHOLDER.match(part) else part for part in path.split('/')]
        pattern = '/'.join(parts)
        if '*' not in pattern or not glob.glob(str(repo / pattern)):
            return False
    return True


def path_problems(path: Path, repo: Path = REPO) -> List[str]:
    return sorted(token for token in repo_paths(path.read_text(encoding='utf-8'))
                  if token not in USER_FILES and not path_exists(token, repo))


def readme_table_configs(readme: Path = REPO / 'README.md') -> List[str]:
    prose, _ = split_markdown(readme.read_text(encoding='utf-8'))
    rows = [line for line in prose.splitlines() if line.lstrip().startswith('|')]
    configs = []
    for row in rows:
        for code in INLINE_CODE.findall(row):
            configs += [m.group(1) for m in re.finditer(r'(configs/[\w./-]+\.py)', code[1])]
    return sorted(set(configs))


def shown_configs() -> List[str]:
    """Config paths shown anywhere in the docs (README tables included)."""
    shown = {token for doc in DOCS for token in repo_paths(doc.read_text(encoding='utf-8'))
             if re.fullmatch(r'configs/[\w./-]+\.py', token) and token not in USER_FILES}
    return sorted(shown | set(readme_table_configs()))


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize('doc', DOCS, ids=_id)
def test_relative_links_and_anchors_resolve(doc):
    problems = link_problems(doc)
    assert not problems, f'{_id(doc)}: broken links:\n' + '\n'.join(problems)


@pytest.mark.parametrize('doc', DOCS, ids=_id)
def test_repository_paths_shown_exist(doc):
    problems = path_problems(doc)
    assert not problems, f'{_id(doc)}: paths that do not exist:\n' + '\n'.join(problems)


def test_readme_tables_name_the_configs():
    configs = readme_table_configs()
    assert 'configs/ssd300.py' in configs and len(configs) >= 7, configs


@pytest.mark.parametrize('config', shown_configs())
def test_configs_shown_load(config):
    from mmengine.config import Config
    assert (REPO / config).is_file(), f'{config} does not exist'
    assert Config.fromfile(str(REPO / config)).keys(), f'{config} is empty'


def test_readme_is_at_most_250_lines():
    lines = len((REPO / 'README.md').read_text(encoding='utf-8').splitlines())
    assert lines <= README_MAX_LINES, f'README.md has {lines} lines (at most {README_MAX_LINES})'


# The checkers themselves find what they are for.
def test_slugs_follow_github():
    assert github_slug("BCCD beside MMDetection's SSD300") == 'bccd-beside-mmdetections-ssd300'
    assert github_slug('Why not a plain `pip install`') == 'why-not-a-plain-pip-install'
    assert github_slug('Offline (air-gapped) machines: a wheelhouse') == \
        'offline-air-gapped-machines-a-wheelhouse'
    assert github_slug('SSD300* / SSD512*') == 'ssd300--ssd512'
    assert github_slug('[Unreleased]') == 'unreleased'


def test_checkers_report_broken_links_anchors_and_paths(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'train.py').write_text('')
    (tmp_path / 'docs' / 'a.md').write_text('# A\n\n## Same\n\n## Same\n')
    doc = tmp_path / 'README.md'
    doc.write_text(
        '# Top\n\n[ok](docs/a.md#same-1) [self](#top) [url](https://x.org/y#z)\n'
        '[gone](docs/b.md) [no anchor](docs/a.md#other)\n'
        '`tools/train.py CONFIG` and `tools/TOOL.py`, `tools/{train,test}.py`,\n'
        '`engine/gone.py`\n\n'
        '```bash\npython tools/missing.py  # [not](a/link.md)\n```\n'
        '`[not a link](nowhere.md)`\n')
    assert link_problems(doc) == [
        'docs/b.md: docs/b.md does not exist',
        'docs/a.md#other: no heading #other in a.md']
    assert path_problems(doc, tmp_path) == [
        'ssd_ext/engine/gone.py', 'tools/missing.py', 'tools/{train,test}.py']
