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


def test_every_package_folder_is_in_the_wheel():
    """A wheel holds only the packages pyproject.toml lists (an editable install sees them all):
    `jaxjam.commands.survey` was missing, so `pip install .` gave a CLI whose `survey` failed.
    Every folder with an ``__init__.py`` must be listed, under its installed name."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    dirs = {name: Path(folder) for name, folder in tool["package-dir"].items()}
    found = set()
    for name, folder in dirs.items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder).parts
            inner = ".".join((name, *rel)) if rel else name
            # a folder of another listed package-dir entry is named by that entry
            if not any(inner != n and (root / f) == init.parent for n, f in dirs.items()):
                found.add(inner)
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
