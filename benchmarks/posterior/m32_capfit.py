"""Reproduce src/jaxjam/data/m32_capfit.json: jampy's own capfit example on M32 (the demo's
reference).

python -m benchmarks.posterior.m32_capfit [--out src/jaxjam/data/m32_capfit.json]
"""

import argparse
import json
import time

from jaxjam.testing.m32 import capfit_m32

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="src/jaxjam/data/m32_capfit.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = capfit_m32()
    res["wall_s"] = time.perf_counter() - t0
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
