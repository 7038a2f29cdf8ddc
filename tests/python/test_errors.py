"""Conversions, errors, the GIL and docstrings of the Python module."""
import threading
import time

import numpy as np
import pytest


def test_float32_int_and_noncontiguous_are_converted(nt, net, reference):
    w0, x = reference["w0"], reference["x"]
    expected = net.predict(w0, x)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(net.predict(w0, x32), net.predict(w0, x32.astype(np.float64)))
    xi = np.arange(15).reshape(5, 3)
    np.testing.assert_array_equal(net.predict(w0, xi), net.predict(w0, xi.astype(np.float64)))
    wide = np.zeros((5, 6))
    wide[:, ::2] = x
    assert not wide[:, ::2].flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(net.predict(w0, wide[:, ::2]), expected)
    np.testing.assert_array_equal(net.predict(w0, np.asfortranarray(x)), expected)
    np.testing.assert_array_equal(net.predict(list(w0), x.tolist()), expected)


@pytest.mark.parametrize("bad", [np.ones((5, 3), dtype=np.complex128), np.ones((5, 3), dtype=bool),
                                 np.array([["a", "b", "c"]] * 5), np.array([[object()] * 3] * 5)])
def test_other_dtypes_are_refused(net, reference, bad):
    with pytest.raises(TypeError, match=r"x: dtype .* is not supported: pass float64"):
        net.predict(reference["w0"], bad)


def test_cpp_errors_keep_their_message(nt, net, reference):
    bad_x = np.ones((5, 2))
    with pytest.raises(nt.Error) as error:
        net.predict(reference["w0"], bad_x)
    assert str(error.value) == reference["error_predict"]
    assert issubclass(nt.Error, ValueError)
    with pytest.raises(nt.Error, match="w"):
        net.predict(reference["w0"][:-1], reference["x"])
    with pytest.raises(nt.Error, match="gelu"):
        nt.MLP(activation="gelu")
    with pytest.raises(nt.Error, match="ntk-vector"):
        nt.empirical_ntk(net, reference["w0"], reference["x"], method="fast")
    with pytest.raises(nt.Error):
        nt.infinite_width_kernels(reference["x"], bias=False, sb2=0.5)
    with pytest.raises(AttributeError):
        nt.MLP(widths=[3])
    with pytest.raises(nt.Error, match="tolerance"):
        nt.kappa(net, reference["w0"], reference["x"], reference["y"], tolerance=2.0)


def test_callback_exception_stops_training(nt, net, reference):
    class Stop(Exception):
        pass

    def callback(step, **_):
        if step == 3:
            raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        nt.train(net, reference["w0"], reference["x"], reference["y"], max_steps=50, callback=callback)


def test_long_calls_release_the_gil(nt):
    # While another thread trains, this one keeps running Python code.
    net = nt.MLP(input_dim=8, hidden=[256, 256], output_dim=1)
    x, y = np.random.default_rng(0).normal(size=(64, 8)), np.zeros((64, 1))
    worker = threading.Thread(target=nt.train, args=(net, net.init(0), x, y), kwargs=dict(max_steps=400))
    ticks = 0
    start = time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    assert elapsed > 0.02, "training was too quick to tell"
    assert ticks >= 5


def test_docstrings_read_well(nt):
    assert "neural tangent kernels" in nt.__doc__
    assert "kappa(model" in nt.kappa.__doc__ and "|grad^2 y(w0)|" in nt.kappa.__doc__
    assert "empirical_ntk(model" in nt.empirical_ntk.__doc__
    assert "sw2" in nt.MLPConfig.__doc__ and "sigma_w^2" in nt.InfiniteMlp.__doc__
    assert "callback" in nt.train.__doc__
    for name in ["MLP", "Model", "train", "empirical_ntk", "jacobian", "infinite_width_kernels", "infinite_width_kernel",
                 "kappa", "KappaOptions", "KappaResult", "linearize", "Linearized", "GradientFlow", "KernelPredictor",
                 "centered", "scaled", "mlp_config"]:
        assert getattr(nt, name).__doc__, name
