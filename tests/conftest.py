import os
import tempfile

# One BLAS thread per process, as in production (DESIGN.md), and a non-interactive backend.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# The two xdist workers share one XLA compilation cache for this run (many tests compile the
# same fit programs); each run starts empty, as a clean clone does.
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"jaxjam-tests-xla-{_run}")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAXJAM_CACHE_DIR", os.environ["JAX_COMPILATION_CACHE_DIR"])  # the CLI's

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxjam.core.grid import PolarGrid  # noqa: E402
from jaxjam.data_gen.config import GeneratorConfig  # noqa: E402
from jaxjam.data_gen.real_galaxies import m32_mge  # noqa: E402


@pytest.fixture(scope="session")
def m32():
    return m32_mge()


@pytest.fixture(scope="session")
def tiny_config():
    """A generator config small enough for tests: 4 samples per task, 8×4 grid."""
    return GeneratorConfig(
        draws_per_photometry=2, photometries_per_task=2, grid=PolarGrid(n_r=8, n_theta=4)
    )


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_config):
    """A 24-sample store (6 tasks) made by an uninterrupted 2-process run, seed 11."""
    from jaxjam.data_gen.generate import generate

    path = tmp_path_factory.mktemp("tiny") / "tiny.zarr"
    summary = generate(path, 24, seed=11, config=tiny_config, workers=2, progress=False)
    assert summary["n_tasks_run"] == 6
    return path
