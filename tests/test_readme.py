"""The README's Python example runs as it stands: a certified fit of the demo's files, written
to disk (a newcomer copies it first)."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text.split("## Fit your own galaxy in Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the section holds one python block"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_python_example_fits_certifies_and_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(_example(), str(README), "exec"), namespace)  # its own assert: certified
    result = namespace["result"]
    out = tmp_path / "m32_fit"
    for name in ("posterior.nc", "summary.csv", "corner.png", "trace.png", "maps.png"):
        assert (out / name).stat().st_size > 0, name
    # the posterior is the demo's: jampy's capfit on these data (stored) within a few sd
    from jaxjam.testing.m32 import stored_capfit

    cap = stored_capfit()
    s = result.summary
    for name in ("q_int", "ratio", "log10_mbh", "log10_ml"):
        z = (s.loc[name, "mean"] - cap[name][0]) / np.hypot(s.loc[name, "sd"], cap[name][1])
        assert abs(z) < 3, (name, z)
