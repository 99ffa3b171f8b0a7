"""Benchmarks cannot rot silently: every name a script imports from jaxjam exists, and every
script with a command line answers ``--help`` (its imports run, its options parse)."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
#: the scripts, in folders by what they measure (no script lies loose at the top)
SCRIPTS = sorted(p for p in BENCH.glob("*/*.py") if p.name != "__init__.py")


#: what a script may import besides jaxjam and benchmarks.*: no sibling script by bare name
#: (that worked only with the script's folder on sys.path)
SIBLINGS = {p.stem for p in SCRIPTS} | {"_common", "_galaxies"}


def test_no_benchmark_imports_a_sibling_by_bare_name():
    for script in SCRIPTS:
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in SIBLINGS:
                raise AssertionError(f"{script.name}: from {node.module} import ...; import it "
                                     f"as benchmarks.FOLDER.{node.module}")  # fmt: skip


def _jaxjam_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith(("jaxjam", "benchmarks"))
        ):
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            yield from ((a.name, []) for a in node.names if a.name.startswith("jaxjam"))


def test_benchmarks_are_organised_in_folders():
    assert len(SCRIPTS) >= 20
    assert {p.name for p in BENCH.glob("*.py")} == {"__init__.py", "_common.py", "_galaxies.py"}
    for folder in {p.parent for p in SCRIPTS}:
        assert (folder / "__init__.py").is_file(), folder


def _module(script: Path) -> str:
    return ".".join(script.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.parametrize("script", SCRIPTS, ids=_module)
def test_every_jaxjam_name_a_benchmark_imports_exists(script):
    for module, names in _jaxjam_imports(script):  # and the shared helpers: benchmarks._common
        mod = importlib.import_module(module)
        missing = [n for n in names if not hasattr(mod, n)
                   and importlib.util.find_spec(f"{module}.{n}") is None]  # fmt: skip
        assert not missing, f"{script.name}: {module} has no {missing}"


def _has_cli(path: Path) -> bool:
    text = path.read_text()
    return 'if __name__ == "__main__"' in text and "argparse" in text


@pytest.mark.slow
@pytest.mark.parametrize("script", [p for p in SCRIPTS if _has_cli(p)], ids=_module)
def test_every_benchmark_command_line_answers_help(script):
    out = subprocess.run([sys.executable, "-m", _module(script), "--help"], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr[-2000:]


def test_every_reference_output_is_filed_by_what_it_measures_and_cited_in_the_docs():
    """A committed reference JSON no page names is a number nobody can find."""
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    docs += (ROOT / "README.md").read_text()
    ref = BENCH / "reference"
    assert not list(ref.glob("*.json")), "reference outputs belong in a folder by what they measure"
    folders = {p.parent.name for p in SCRIPTS} | {"speed"}  # speed: `jaxjam bench` runs
    uncited = []
    for f in sorted(ref.glob("*/*.json")):
        assert f.parent.name in folders, f
        if str(f.relative_to(BENCH.parent)) not in docs:
            uncited.append(str(f.relative_to(BENCH.parent)))
    assert not uncited, f"cite these in docs/ by their path: {uncited}"
