"""Benchmarks cannot rot silently: every name a script imports from jaxjam exists, and every
script with a command line answers ``--help`` (its imports run, its options parse)."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def _jaxjam_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxjam"):
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            yield from ((a.name, []) for a in node.names if a.name.startswith("jaxjam"))


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_jaxjam_name_a_benchmark_imports_exists(script):
    for module, names in _jaxjam_imports(script):
        mod = importlib.import_module(module)
        missing = [n for n in names if not hasattr(mod, n)
                   and importlib.util.find_spec(f"{module}.{n}") is None]  # fmt: skip
        assert not missing, f"{script.name}: {module} has no {missing}"


def _has_cli(path: Path) -> bool:
    text = path.read_text()
    return 'if __name__ == "__main__"' in text and "argparse" in text


@pytest.mark.slow
@pytest.mark.parametrize("script", [p for p in SCRIPTS if _has_cli(p)], ids=lambda p: p.name)
def test_every_benchmark_command_line_answers_help(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                         cwd=BENCH, timeout=300)  # fmt: skip
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr[-2000:]
