"""The package layout: one src/jaxjam package whose sub-packages are the layers."""

import importlib
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import jaxjam
from jaxjam.cli.main import main


def test_layer_subpackages_import_under_the_package():
    for name in ("jaxjam.core.mge", "jaxjam.reference", "jaxjam.data_gen.generate",
                 "jaxjam.emulator", "jaxjam.inference", "jaxjam.cli.main"):  # fmt: skip
        mod = importlib.import_module(name)
        assert mod.__name__ == name
        assert Path(mod.__file__).resolve().is_relative_to(Path(jaxjam.__file__).resolve().parent)
    assert (Path(jaxjam.__file__).parent / "data" / "m32_mge.txt").is_file()


def test_console_script_and_version():
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and jaxjam.__version__ in res.output
    out = subprocess.run([sys.executable, "-m", "jaxjam.cli", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert "generate" in out.stdout


def test_every_code_folder_is_a_package_the_wheel_finds():
    """pyproject.toml finds packages under src/ (``[tool.setuptools.packages.find]``), which
    takes only folders with an ``__init__.py``: a code folder without one would be left out of
    the wheel, as `jaxjam.commands.survey` once was (an editable install sees it anyway).
    ``.ci/run`` builds the wheel and runs every command from it."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["packages"]["find"]["where"] == ["src"] and "package-dir" not in tool
    src = root / "src" / "jaxjam"
    assert Path(jaxjam.__file__).resolve().parent == src.resolve(), "tests run against src/"
    missing = [str(d.relative_to(root)) for d in src.rglob("*") if d.is_dir()
               and any(d.glob("*.py")) and not (d / "__init__.py").is_file()]  # fmt: skip
    assert not missing, f"code folders without __init__.py (left out of a wheel): {missing}"
