"""The layers of DESIGN.md ("Layout"), read from every module's imports, those inside functions
included: values and physics → learning → the jampy reference → data_gen and inference →
commands. Nothing imports upward; inference never imports data_gen."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: installed package → source directory (setuptools package-dir, pyproject.toml)
SOURCES = {"jaxjam": "jaxjam", "jaxjam.inference": "inference", "jaxjam.data_gen": "data_gen"}

CORE, LEARNING, REFERENCE, DATA_INFERENCE, COMMANDS = range(5)
_CORE = ["jaxjam", "jaxjam.constants", "jaxjam.configs", "jaxjam.geometry", "jaxjam.grid",
         "jaxjam.mge", "jaxjam.photometry", "jaxjam.kinematics", "jaxjam.physics", "jaxjam.psf",
         "jaxjam.forward", "jaxjam.scaling", "jaxjam.cluster", "jaxjam.components"]  # fmt: skip
_LEARNING = ["jaxjam.network", "jaxjam.transforms", "jaxjam.batches", "jaxjam.checkpoint",
             "jaxjam.training", "jaxjam.evaluation", "jaxjam.store_accuracy",
             "jaxjam.emulator", "jaxjam.fused", "jaxjam.table",
             "jaxjam.error_model"]  # fmt: skip
LAYER = {
    **dict.fromkeys(_CORE, CORE),
    **dict.fromkeys(_LEARNING, LEARNING),
    "jaxjam.reference": REFERENCE,
    "jaxjam.data_gen": DATA_INFERENCE,
    "jaxjam.inference": DATA_INFERENCE,
    "jaxjam.commands": COMMANDS,
}

#: Upward imports that exist today, each with its reason; a new one fails the test, and so does
#: one of these once it is gone (then delete it here).
KNOWN_UPWARD = {
    # the package's lazy re-export of jaxjam.Emulator (inside __getattr__)
    ("jaxjam", "jaxjam.emulator"),
    # training reads the zarr store, which lives in data_gen (to move down with issue 15)
    ("jaxjam.training", "jaxjam.data_gen.store"),
    # evaluation measures a model against fresh jampy labels of real and sampled photometry
    ("jaxjam.evaluation", "jaxjam.data_gen.jam_labels"),
    ("jaxjam.evaluation", "jaxjam.data_gen.real_galaxies"),
    ("jaxjam.evaluation", "jaxjam.data_gen.sampler"),
    ("jaxjam.evaluation", "jaxjam.data_gen.store"),
    # store_accuracy reads a held-out store's labels
    ("jaxjam.store_accuracy", "jaxjam.data_gen.store"),
}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg, src in SOURCES.items():
        for f in (ROOT / src).rglob("*.py"):
            parts = [p for p in f.relative_to(ROOT / src).with_suffix("").parts if p != "__init__"]
            if pkg == "jaxjam" and parts and parts[0] in ("inference", "data_gen"):
                continue
            mods[".".join([pkg, *parts])] = f
    return mods


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):  # every import, top-level or not
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "jaxjam" or m.startswith("jaxjam.")}


def _layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYER:
            return LAYER[".".join(parts[:n])]
    raise AssertionError(f"{module} has no layer: add it to LAYER in tests/test_layering.py")


def test_every_module_has_a_layer_and_nothing_imports_upward():
    mods = _modules()
    assert "jaxjam.inference.fit" in mods and "jaxjam.data_gen.store" in mods
    upward = set()
    for mod, path in mods.items():
        for dep in _imports(path):
            if _layer(dep) > _layer(mod):
                upward.add((mod, dep))
    assert upward == KNOWN_UPWARD, {
        "new upward imports": sorted(upward - KNOWN_UPWARD),
        "gone (delete from KNOWN_UPWARD)": sorted(KNOWN_UPWARD - upward),
    }


def test_inference_and_data_gen_do_not_import_each_other():
    for mod, path in _modules().items():
        deps = _imports(path)
        if mod.startswith("jaxjam.inference"):
            assert not any(d.startswith("jaxjam.data_gen") for d in deps), mod
        if mod.startswith("jaxjam.data_gen"):
            assert not any(d.startswith("jaxjam.inference") for d in deps), mod
