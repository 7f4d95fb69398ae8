"""Citations lead somewhere: docs/ paths, their sections and named configs.

Code, configs, tools and tests cite documents of this repository as
``docs/<name>.md, <section title>``; every cited file and section title must
exist. ``docs/reproduce.md`` names a config for every row of the paper's
tables; every named config must exist and every ablation config must be
named. Nothing may cite sections of a document that is not in the
repository.
"""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
# Where citations live: the package, configs, tools, demo, tests, README.
SOURCE_DIRS = ('projects', 'configs', 'tools', 'demo', 'tests')
SOURCE_SUFFIXES = ('.py', '.sh', '.md', '.txt', '.cfg')
THIS_FILE = Path(__file__).resolve()

# ``docs/<file>.md`` optionally followed by ``, <section title>``.
# The lookahead reads the section title without consuming it, so that a
# second citation within it is found too.
DOC_CITATION = re.compile(r'(?<![\w/.])docs/([\w.-]+\.md)'
                          r'(?=(?:,\s*([^\n]{0,100}))?)')
# A line break inside a comment or a docstring, with the next line's
# indentation and comment marker.
LINE_BREAK = re.compile(r'[ \t]*\n[ \t]*(?:#[ \t]*)?')
CONFIG_PATH = re.compile(r'configs/[\w/.-]+?\.py')


def source_files() -> Iterator[Path]:
    """Every file of the repository that may cite a document."""
    yield ROOT / 'README.md'
    for name in SOURCE_DIRS:
        for path in sorted((ROOT / name).rglob('*')):
            if (path.is_file() and path.suffix in SOURCE_SUFFIXES
                    and path.resolve() != THIS_FILE):
                yield path
    yield from sorted(DOCS.glob('*.md'))


def headings(doc: Path) -> List[str]:
    """Titles of the markdown headings of ``doc``."""
    return [
        line.lstrip('#').strip()
        for line in doc.read_text(encoding='utf-8').splitlines()
        if line.startswith('#')
    ]


def doc_citations(text: str) -> List[Tuple[str, str]]:
    """``(file, text after the comma)`` of every ``docs/`` citation.

    Comment markers and indentation of wrapped lines are removed first, so a
    citation may be wrapped like any comment.
    """
    joined = LINE_BREAK.sub(' ', text)
    return [(m.group(1), m.group(2) or '')
            for m in DOC_CITATION.finditer(joined)]


def cited_section(after_comma: str, titles: List[str]) -> str:
    """The longest heading title that the cited text starts with, or ''."""
    matches = [t for t in titles if after_comma.startswith(t)]
    return max(matches, key=len) if matches else ''


def all_citations() -> Dict[str, List[Tuple[str, str]]]:
    found = {}
    for path in source_files():
        text = path.read_text(encoding='utf-8', errors='replace')
        cites = doc_citations(text)
        if cites:
            found[str(path.relative_to(ROOT))] = cites
    return found


def test_citation_parser_reads_wrapped_comments():
    text = ('x = 1  # uses the bins (docs/notes.md,\n'
            '# Distillation bins), and more\n'
            '    """Taps (docs/other.md, 2D\n'
            '    backbone): the image."""\n'
            'see docs/whole.md for everything; not mmdet3d/docs/api.md\n')
    titles = ['Distillation bins', '2D backbone', 'Distillation']
    assert [(name, cited_section(after, titles))
            for name, after in doc_citations(text)] == [
                ('notes.md', 'Distillation bins'),
                ('other.md', '2D backbone'),
                ('whole.md', ''),
            ]
    assert cited_section('Released configs; val', titles) == ''


def test_cited_docs_and_sections_exist():
    citations = all_citations()
    # the code cites the reference notes in many places
    assert sum(len(c) for c in citations.values()) >= 30
    problems = []
    for source, cites in citations.items():
        for name, after in cites:
            doc = DOCS / name
            if not doc.is_file():
                problems.append(f'{source}: docs/{name} does not exist')
                continue
            # a citation followed by a comma names a section of the file
            if after and not cited_section(after, headings(doc)):
                problems.append(f'{source}: docs/{name} has no section '
                                f'heading at the start of {after[:60]!r}')
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize(
    'pattern',
    [
        # "reference Sec. 9.4" / "reference §7": sections of a document
        # that is not in this repository
        r'reference\s+(?:Sec\.|§)',
        r'§',
        r'shared/docs',
        r'\.\./shared',
    ])
def test_no_citation_outside_the_repository(pattern):
    hits = []
    for path in source_files():
        text = path.read_text(encoding='utf-8', errors='replace')
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(pattern, line):
                hits.append(f'{path.relative_to(ROOT)}:{number}: '
                            f'{line.strip()}')
    assert not hits, '\n'.join(hits)


def test_reproduce_names_existing_configs():
    text = (DOCS / 'reproduce.md').read_text(encoding='utf-8')
    named = set(CONFIG_PATH.findall(text))
    missing = sorted(c for c in named if not (ROOT / c).is_file())
    assert not missing, f'docs/reproduce.md names missing configs {missing}'
    # every ablation (one file per row of Tables 3 and 4) has its row
    ablations = {
        str(p.relative_to(ROOT))
        for p in (ROOT / 'configs' / 'ablations').glob('*.py')
    }
    assert ablations, 'configs/ablations/ is empty'
    unnamed = sorted(ablations - named)
    assert not unnamed, f'docs/reproduce.md has no row for {unnamed}'
    for config in ('configs/occdepth_kitti.py', 'configs/occdepth_nyu.py',
                   'configs/occdepth_tartanair.py',
                   'configs/occdepth_kitti_released.py'):
        assert config in named, f'docs/reproduce.md does not name {config}'
