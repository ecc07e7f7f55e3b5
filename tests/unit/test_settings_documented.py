"""Every environment variable project/settings.py reads is in README.md's configuration table."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "project" / "settings.py"
README = ROOT / "README.md"

# The ways settings.py reads a variable: os.environ.get("X", ...), os.getenv("X"), env_flag("X"),
# env_list("X", ...) and os.environ["X"].
READERS = {"os.environ.get", "os.getenv", "env_flag", "env_list"}


def variables_read(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in READERS and node.args:
            argument = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            argument = node.slice
        else:
            continue
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
    return names


def documented(readme: str) -> set[str]:
    """The variables named in backticks in the README's table rows."""
    return {
        cell.strip("`")
        for line in readme.splitlines()
        if line.startswith("| `")
        for cell in line.split("|")[1].replace(",", " ").split()
        if cell.startswith("`") and cell.endswith("`")
    }


def test_the_reader_finds_every_form_settings_uses():
    source = 'os.environ.get("A")\nos.environ.get(\n    "B", "x")\nenv_flag("C")\nenv_list("D", "")\nos.environ["E"]\nos.getenv("F")\n'
    assert variables_read(source) == {"A", "B", "C", "D", "E", "F"}


def test_every_variable_settings_reads_is_in_the_readme_table():
    read = variables_read(SETTINGS.read_text())
    assert {"DATABASE_URL", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "INTEGRATION_RELAY_URL"} <= read  # the reader works
    missing = sorted(read - documented(README.read_text()))
    assert not missing, f"read in project/settings.py but not in README.md's configuration table: {missing}"
