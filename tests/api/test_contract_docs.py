"""The HTTP contract lives in docs/API.md: what cites it names sections it has, and nothing cites another.

The quoted names after a citation of docs/API.md in the tests ("Users", "Validation") must be
headings of docs/API.md, so a renamed section cannot leave a test pointing nowhere.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "API.md"
CITATION = re.compile(r"docs/API\.md[^\n]*")


def headings() -> set[str]:
    return {line.lstrip("#").strip() for line in CONTRACT.read_text().splitlines() if line.startswith("#")}


def sources():
    for folder in ("tests", "products", "projections", "feed", "project", "docs"):
        yield from (ROOT / folder).rglob("*.py")
        yield from (ROOT / folder).rglob("*.md")
    yield ROOT / "README.md"


def test_every_section_a_test_cites_is_in_the_contract():
    cited = {}
    for path in (ROOT / "tests").rglob("*.py"):
        for line in CITATION.findall(path.read_text()):
            for name in re.findall(r'"([A-Z][^"]*)"', line):
                cited.setdefault(name, path.relative_to(ROOT))
    assert cited, "no test cites docs/API.md"
    missing = {name: str(path) for name, path in cited.items() if name not in headings()}
    assert not missing, f"cited sections docs/API.md does not have: {missing}"


def test_nothing_cites_a_contract_outside_the_repository():
    citing = [
        str(path.relative_to(ROOT))
        for path in sources()
        if path != Path(__file__) and "DESIGN.md" in path.read_text()
    ]
    assert not citing
