"""Shared fixtures of the Python module's tests: the module itself and the C++ reference values.

NTK_AUTODIFF_REFERENCE names the python-reference program (python/reference.cpp), which prints,
as JSON, what the C++ API returns for the inputs it also prints; CTest sets it and PYTHONPATH.
"""
import json
import os
import subprocess

import numpy as np
import pytest


@pytest.fixture(scope="session")
def reference():
    program = os.environ.get("NTK_AUTODIFF_REFERENCE")
    if not program:
        pytest.fail("NTK_AUTODIFF_REFERENCE is not set (run through ctest)")
    data = json.loads(subprocess.run([program], check=True, capture_output=True, text=True).stdout)
    return {key: as_array(value) for key, value in data.items()}


def as_array(value):
    if isinstance(value, dict) and set(value) == {"shape", "data"}:
        return np.array(value["data"], dtype=np.float64).reshape(value["shape"])
    return value


@pytest.fixture(scope="session")
def nt():
    import ntk_autodiff
    return ntk_autodiff


@pytest.fixture(scope="session")
def net(nt):
    """The reference program's net: NTK parameterization, tanh, 3-16-8-2, sw2 1.5, sb2 0.2."""
    return nt.MLP(input_dim=3, hidden=[16, 8], output_dim=2, activation="tanh", parameterization="ntk",
                  sw2=1.5, sb2=0.2)
