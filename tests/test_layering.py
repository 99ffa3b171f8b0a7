"""The layers, read from every module's imports (those inside functions included).

``src/jaxjam``'s sub-packages are the layers, bottom up::

    core → reference → data_gen → emulator → inference → testing → cli

core is values and physics (MGEs, geometry, grid, components, PSF, the bins' linear map);
reference is every jampy call; data_gen makes stores from jampy labels; emulator is the network,
its training on stores and its evaluation; inference is the fit; testing holds the shared
fixtures (jampy's M32 example, jampy mocks) of tests, benchmarks and the demo; cli is the
``jaxjam`` command.
Nothing imports upward, and inference never imports data_gen (a fit needs no generator). The
package root only re-exports the public names of the layers (its ``__init__``).
"""

import ast
from pathlib import Path

import jaxjam

SRC = Path(jaxjam.__file__).resolve().parent
LAYERS = ("core", "reference", "data_gen", "emulator", "inference", "testing", "cli")
#: package data, not code
NOT_LAYERS = ("data", "pretrained")


def _modules() -> dict[str, Path]:
    mods = {}
    for f in SRC.rglob("*.py"):
        parts = [p for p in f.relative_to(SRC).with_suffix("").parts if p != "__init__"]
        mods[".".join(["jaxjam", *parts])] = f
    return mods


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):  # every import, top-level or not
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute jaxjam.… imports")
    return {m for m in out if m == "jaxjam" or m.startswith("jaxjam.")}


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        raise AssertionError(f"{module} is in no layer: put it in one of src/jaxjam/{LAYERS}")
    return LAYERS.index(parts[1])


def test_every_folder_is_a_layer_or_package_data():
    found = {p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert found == set(LAYERS) | set(NOT_LAYERS), found
    for layer in LAYERS:
        assert (SRC / layer / "__init__.py").is_file(), layer
    assert {f.name for f in SRC.glob("*.py")} == {"__init__.py"}, "modules belong in a layer"


def test_nothing_imports_upward():
    mods = _modules()
    assert "jaxjam.inference.fit" in mods and "jaxjam.data_gen.store" in mods
    upward = []
    for mod, path in mods.items():
        if mod == "jaxjam":  # the package root: re-exports only
            continue
        for dep in _imports(path):
            if dep != "jaxjam" and _layer(dep) > _layer(mod):  # the root: for __version__
                upward.append((mod, dep))
    assert not upward, f"upward imports: {sorted(upward)}"


def test_the_package_root_imports_nothing_above_the_emulator():
    deps = _imports(SRC / "__init__.py")
    assert deps and all(_layer(d) <= LAYERS.index("emulator") for d in deps), deps


def test_inference_and_data_gen_do_not_import_each_other():
    for mod, path in _modules().items():
        deps = _imports(path)
        if mod.startswith("jaxjam.inference"):
            assert not any(d.startswith("jaxjam.data_gen") for d in deps), mod
        if mod.startswith("jaxjam.data_gen"):
            assert not any(d.startswith("jaxjam.inference") for d in deps), mod
