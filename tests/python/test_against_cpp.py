"""Every exposed call against the C++ API's result on the same inputs (python-reference).

Both sides run the same C++ code on the same doubles, so most values must agree exactly; the
tolerance 1e-13 covers the few that go through a BLAS call with other memory alignment.
"""
import math

import numpy as np
import pytest

TIGHT = dict(rtol=1e-13, atol=1e-13)


def test_mlp_init_predict_describe(nt, net, reference):
    assert net.describe() == reference["describe"]
    w0 = net.init(seed=3)
    assert w0.dtype == np.float64 and w0.shape == (net.num_params,)
    np.testing.assert_array_equal(w0, reference["w0"])
    np.testing.assert_allclose(net.predict(w0, reference["x"]), reference["predict"], **TIGHT)
    standard = nt.MLP(nt.MLPConfig(input_dim=3, hidden=[10], output_dim=1))
    np.testing.assert_array_equal(standard.init(0), reference["standard_w0"])


def test_layout_covers_w(net):
    blocks = net.layout()
    assert [b["name"] for b in blocks] == ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias",
                                           "layer3.weight", "layer3.bias"]
    assert blocks[0]["shape"] == (16, 3) and blocks[0]["offset"] == 0
    assert sum(math.prod(b["shape"]) for b in blocks) == net.num_params
    assert net.config.hidden == [16, 8] and net.config.activation == "tanh" and net.config.sw2 == 1.5
    net.config.sw2 = 9.0  # a copy: the net is unchanged
    assert net.config.sw2 == 1.5


def test_empirical_ntk_and_jacobian(nt, net, reference):
    w0, x, x2 = reference["w0"], reference["x"], reference["x2"]
    np.testing.assert_allclose(nt.empirical_ntk(net, w0, x, x2), reference["ntk"], **TIGHT)
    np.testing.assert_allclose(nt.empirical_ntk(net, w0, x, trace_outputs=True), reference["ntk_same"], **TIGHT)
    np.testing.assert_allclose(nt.jacobian(net, w0, x), reference["jacobian"], **TIGHT)
    for method in ["jacobian", "ntk-vector", "structured"]:
        np.testing.assert_allclose(nt.empirical_ntk(net, w0, x, x2, method=method), reference["ntk"], rtol=1e-12,
                                   atol=1e-12)


def test_train_with_callback(nt, net, reference):
    seen = []
    result = nt.train(net, reference["w0"], reference["x"], reference["y"], learning_rate=0.05, max_steps=20,
                      callback=lambda step, loss, relative_change, w: seen.append((step, loss, relative_change,
                                                                                  w.copy())))
    np.testing.assert_allclose(result.losses, reference["train_losses"], **TIGHT)
    np.testing.assert_allclose(result.relative_changes, reference["train_changes"], **TIGHT)
    np.testing.assert_allclose(result.w, reference["train_w"], **TIGHT)
    assert result.steps == 20 and not result.reached_threshold
    assert [s[0] for s in seen] == list(range(len(result.losses)))
    np.testing.assert_allclose([s[1] for s in seen], result.losses, **TIGHT)
    np.testing.assert_allclose(seen[-1][3], result.w, **TIGHT)


def test_infinite_width_kernels(nt, reference):
    x, x2 = reference["x"], reference["x2"]
    nngp, ntk = nt.infinite_width_kernels(x, x2, depth=2, activation="relu", sw2=2.0, sb2=0.1)
    np.testing.assert_allclose(nngp, reference["inf_nngp"], **TIGHT)
    np.testing.assert_allclose(ntk, reference["inf_ntk"], **TIGHT)
    mlp = nt.InfiniteMlp(depth=2, activation="relu", sw2=2.0, sb2=0.1)
    assert mlp.describe() == reference["inf_describe"]
    np.testing.assert_allclose(nt.infinite_width_kernel(x, x2, mlp), reference["inf_ntk"], **TIGHT)
    tanh = nt.infinite_width_kernel(x, depth=1, activation="tanh", sw2=1.3, kind="nngp")
    np.testing.assert_allclose(tanh, reference["inf_tanh_nngp"], **TIGHT)
    config = nt.mlp_config(mlp, 3, 64)
    assert config.hidden == [64, 64] and config.parameterization == "ntk" and config.sw2 == 2.0 and config.sb2 == 0.1


def test_kappa_all_fields(nt, net, reference):
    ref = reference["kappa"]
    r = nt.kappa(net, reference["w0"], reference["x"], reference["y"], tolerance=1e-10)
    for field in ["residual_norm", "jacobian_norm", "hessian_norm", "kappa", "ratio"]:
        assert getattr(r, field) == pytest.approx(ref[field], rel=1e-12), field
    assert r.converged == ref["converged"] and r.mode == "matrix-free"
    assert r.c.shape == (10,) and r.u.shape == (10,) and r.v.shape == (net.num_params,)
    assert np.linalg.norm(r.c) == pytest.approx(1.0) and np.linalg.norm(r.v) == pytest.approx(1.0)
    assert r.hessian_products > 0 and r.seconds >= 0.0 and math.isnan(r.hessian_upper_bound)
    for field in ["jvps", "vjps", "curvature_passes", "jacobian_sweeps", "c_iterations"]:
        assert isinstance(getattr(r, field), int)
    options = nt.KappaOptions(mode="dense")
    assert options.mode == "dense" and options.curvature == "finite-difference"
    dense = nt.kappa(net, reference["w0"], reference["x"], reference["y"], options)
    assert dense.kappa == pytest.approx(reference["kappa_dense"]["kappa"], rel=1e-12)
    assert dense.hessian_upper_bound == pytest.approx(reference["kappa_dense"]["hessian_upper_bound"], rel=1e-12)
    assert dense.hessian_norm == pytest.approx(r.hessian_norm, rel=1e-6)


def test_linearized_model(nt, net, reference):
    lin = nt.linearize(net, reference["w0"])
    np.testing.assert_array_equal(lin.w0, reference["w0"])
    np.testing.assert_allclose(lin.predict(reference["w1"], reference["x"]), reference["linearized_predict"], **TIGHT)
    assert lin.num_params == net.num_params and "Linearized" in lin.describe()


def test_gradient_flow_and_kernel_predictions(nt, net, reference):
    w0, x, x2, y = reference["w0"], reference["x"], reference["x2"], reference["y"]
    theta = nt.empirical_ntk(net, w0, x)
    flow = nt.GradientFlow(theta, (net.predict(w0, x) - y).ravel())
    np.testing.assert_allclose(flow.residual(0.7), reference["flow_residual"], **TIGHT)
    np.testing.assert_allclose(flow.residual_gd(5, 0.01), reference["flow_gd"], **TIGHT)
    assert flow.loss(0.7) == pytest.approx(reference["flow_loss"], rel=1e-13)
    predictor = nt.KernelPredictor(theta, net.predict(w0, x).ravel(), y.ravel(), ridge=1e-6)
    theta_test, f0_test = nt.empirical_ntk(net, w0, x2, x), net.predict(w0, x2).ravel()
    np.testing.assert_allclose(predictor.predict(theta_test, f0_test, 2.0), reference["kernel_predict"], **TIGHT)
    np.testing.assert_allclose(predictor.predict(theta_test, f0_test), reference["kernel_predict_inf"], **TIGHT)
