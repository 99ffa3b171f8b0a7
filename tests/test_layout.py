"""The package layout: top-level data_gen/ and inference/ install under the jaxjam namespace."""

import importlib
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import jaxjam
from jaxjam.commands.cli import main


def test_namespaced_subpackages_import():
    for name in ("jaxjam.data_gen", "jaxjam.data_gen.generate", "jaxjam.inference"):
        mod = importlib.import_module(name)
        assert mod.__name__ == name
    data_gen_dir = Path(importlib.import_module("jaxjam.data_gen").__file__).parent
    assert data_gen_dir.name in ("data_gen",)  # the repository folder, or its installed copy
    assert (Path(jaxjam.__file__).parent / "data" / "m32_mge.txt").is_file()


def test_console_script_and_version():
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and jaxjam.__version__ in res.output
    out = subprocess.run([sys.executable, "-m", "jaxjam.commands.cli", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert "generate" in out.stdout
