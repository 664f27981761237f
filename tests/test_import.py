"""`import dlcourse_utils` is cheap, framework-free and has no side effects."""
from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, os, random, sys, time
import numpy as np
import matplotlib
state_np = np.random.get_state()[1].copy()
state_py = random.getstate()
rc = dict(matplotlib.rcParams)
env = dict(os.environ)
t0 = time.perf_counter()
import dlcourse_utils
elapsed = time.perf_counter() - t0
for name in SUBMODULES:
    getattr(dlcourse_utils, name)
print(json.dumps({
    "elapsed": elapsed,
    "frameworks": sorted(m for m in ("torch", "tensorflow", "keras", "jax") if m in sys.modules),
    "numpy_state_same": bool((np.random.get_state()[1] == state_np).all()),
    "python_state_same": random.getstate() == state_py,
    "rc_same": dict(matplotlib.rcParams) == rc,
    "env_same": dict(os.environ) == env,
    "pyplot": "matplotlib.pyplot" in sys.modules,
}))
"""


def probe(submodules: list[str]) -> dict:
    code = PROBE.replace("SUBMODULES", repr(submodules))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_is_fast_and_imports_no_framework():
    best = min(probe([])["elapsed"] for _ in range(3))
    assert best < 0.5, f"import dlcourse_utils took {best:.3f} s"
    assert probe([])["frameworks"] == []


def test_import_has_no_side_effects():
    result = probe([])
    assert result["numpy_state_same"] and result["python_state_same"]
    assert result["rc_same"] and result["env_same"]
    assert not result["pyplot"]


def test_framework_agnostic_submodules_import_no_framework():
    result = probe(["checks", "data", "env", "gradcheck", "plotting"])
    assert result["frameworks"] == []
    assert result["numpy_state_same"] and result["rc_same"] and result["env_same"]


def test_torch_utils_is_the_module_that_imports_torch():
    assert "torch" in probe(["torch_utils"])["frameworks"]


def test_unknown_attribute_raises_attribute_error():
    import dlcourse_utils

    try:
        dlcourse_utils.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
