"""The module against independent computations on the same weights: PyTorch (float64) for the
MLP's forward pass, its Jacobian, the empirical NTK, training and kappa's norms; numpy for the
infinite-width ReLU kernels (the arc-cosine recursion), gradient flow and kernel predictions."""
import numpy as np
import pytest
import torch

torch.set_default_dtype(torch.float64)


def torch_forward(net, w, x):
    """The MLP of `net` (NTK parameterization, tanh) written in PyTorch from its layout."""
    config, blocks = net.config, net.layout()
    h = torch.as_tensor(x)
    layers = len(config.hidden) + 1
    for layer in range(layers):
        W_block, b_block = blocks[2 * layer], blocks[2 * layer + 1]
        W = w[W_block["offset"]:W_block["offset"] + np.prod(W_block["shape"])].reshape(W_block["shape"])
        b = w[b_block["offset"]:b_block["offset"] + np.prod(b_block["shape"])]
        h = np.sqrt(config.sw2 / W.shape[1]) * h @ W.T + np.sqrt(config.sb2) * b
        if layer + 1 < layers:
            h = torch.tanh(h)
    return h


def torch_jacobian(net, w, x):
    J = torch.autograd.functional.jacobian(lambda v: torch_forward(net, v, x).reshape(-1), torch.as_tensor(w))
    return J.numpy()


def test_forward_and_jacobian_match_torch(nt, net, reference):
    w0, x = reference["w0"], reference["x"]
    expected = torch_forward(net, torch.as_tensor(w0), x).detach().numpy()
    np.testing.assert_allclose(net.predict(w0, x), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(nt.jacobian(net, w0, x), torch_jacobian(net, w0, x), rtol=1e-11, atol=1e-12)


def test_empirical_ntk_matches_torch(nt, net, reference):
    w0, x, x2 = reference["w0"], reference["x"], reference["x2"]
    expected = torch_jacobian(net, w0, x) @ torch_jacobian(net, w0, x2).T
    np.testing.assert_allclose(nt.empirical_ntk(net, w0, x, x2), expected, rtol=1e-11, atol=1e-12)


def test_training_matches_torch(nt, net, reference):
    w0, x, y = reference["w0"], reference["x"], reference["y"]
    w = torch.tensor(w0, requires_grad=True)
    losses = []
    for _ in range(21):
        loss = 0.5 * ((torch_forward(net, w, x) - torch.as_tensor(y)) ** 2).sum()
        losses.append(loss.item())
        if len(losses) == 21:
            break
        (g,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= 0.05 * g
    result = nt.train(net, w0, x, y, learning_rate=0.05, max_steps=20)
    np.testing.assert_allclose(result.losses, losses, rtol=1e-10)
    np.testing.assert_allclose(result.w, w.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_kappa_norms_match_torch(nt):
    # One output and one point: |grad^2 y| is the largest |eigenvalue| of the Hessian.
    net = nt.MLP(input_dim=3, hidden=[6], output_dim=1, activation="tanh", parameterization="ntk", sw2=1.5, sb2=0.2)
    w0 = net.init(1)
    x, y = np.array([[0.3, -1.2, 0.8]]), np.array([[0.7]])
    r = nt.kappa(net, w0, x, y, tolerance=1e-10)
    f = lambda v: torch_forward(net, v, x).reshape(())
    H = torch.autograd.functional.hessian(f, torch.as_tensor(w0)).numpy()
    J = torch_jacobian(net, w0, x)
    residual = abs(f(torch.as_tensor(w0)).item() - 0.7)
    assert r.residual_norm == pytest.approx(residual, rel=1e-12)
    assert r.jacobian_norm == pytest.approx(np.sqrt(np.linalg.eigvalsh(J @ J.T).max()), rel=1e-10)
    assert r.hessian_norm == pytest.approx(np.abs(np.linalg.eigvalsh(H)).max(), rel=1e-8)
    assert r.kappa == pytest.approx(residual * r.hessian_norm / r.jacobian_norm**2, rel=1e-12)


def relu_kernels(x1, x2, depth, sw2, sb2):
    """neural-tangents' stax.serial(Dense, Relu, ..., Dense) in numpy: the arc-cosine recursion."""
    d = x1.shape[1]
    K, q1, q2 = x1 @ x2.T / d, (x1**2).sum(1) / d, (x2**2).sum(1) / d
    K, q1, q2 = sw2 * K + sb2, sw2 * q1 + sb2, sw2 * q2 + sb2
    T = K.copy()
    for _ in range(depth):
        s = np.sqrt(np.outer(q1, q2))
        theta = np.arccos(np.clip(K / s, -1.0, 1.0))
        E = s / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
        Ed = (np.pi - theta) / (2 * np.pi)
        K, q1, q2 = sw2 * E + sb2, sw2 * q1 / 2 + sb2, sw2 * q2 / 2 + sb2
        T = sw2 * T * Ed + K
    return K, T


def test_infinite_width_relu_matches_numpy(nt, reference):
    x, x2 = reference["x"], reference["x2"]
    nngp, ntk = nt.infinite_width_kernels(x, x2, depth=2, activation="relu", sw2=2.0, sb2=0.1)
    K, T = relu_kernels(x, x2, 2, 2.0, 0.1)
    np.testing.assert_allclose(nngp, K, rtol=1e-12)
    np.testing.assert_allclose(ntk, T, rtol=1e-12)


def test_gradient_flow_and_predictions_match_numpy(nt, net, reference):
    w0, x, x2, y = reference["w0"], reference["x"], reference["x2"], reference["y"]
    theta = nt.empirical_ntk(net, w0, x)
    u0 = (net.predict(w0, x) - y).ravel()
    lam, V = np.linalg.eigh(theta)
    np.testing.assert_allclose(nt.GradientFlow(theta, u0).residual(0.7), V @ (np.exp(-lam * 0.7) * (V.T @ u0)),
                               rtol=1e-9, atol=1e-12)
    f0, f0_test, theta_test = net.predict(w0, x).ravel(), net.predict(w0, x2).ravel(), nt.empirical_ntk(net, w0, x2, x)
    expected = f0_test + theta_test @ np.linalg.solve(theta, y.ravel() - f0)
    np.testing.assert_allclose(nt.KernelPredictor(theta, f0, y.ravel()).predict(theta_test, f0_test), expected,
                               rtol=1e-7, atol=1e-9)


def test_centered_scaled_and_flow_modes_match_numpy(nt, net, reference):
    w0, x, y = reference["w0"], reference["x"], reference["y"]
    centered = nt.centered(net, seed=3)  # centered at net.init(3) == w0
    np.testing.assert_array_equal(centered.init(0), w0)
    np.testing.assert_array_equal(centered.predict(w0, x), np.zeros((5, 2)))
    w1 = reference["w1"]
    np.testing.assert_allclose(centered.predict(w1, x), net.predict(w1, x) - net.predict(w0, x), rtol=1e-12, atol=1e-14)
    scaled = nt.scaled(net, 2.5)
    np.testing.assert_allclose(scaled.predict(w1, x), 2.5 * net.predict(w1, x), rtol=1e-14)
    assert "Scaled(alpha=2.5" in scaled.describe()
    theta = nt.empirical_ntk(net, w0, x)
    u0 = (net.predict(w0, x) - y).ravel()
    flow = nt.GradientFlow(theta, u0)
    lam, V = np.linalg.eigh(theta)
    np.testing.assert_allclose(flow.eigenvalues, lam, rtol=1e-10, atol=1e-12)
    # Eigenvectors up to sign: compare the projector-invariant modes' magnitudes.
    np.testing.assert_allclose(np.abs(flow.modes(0.3)), np.abs(np.exp(-lam * 0.3) * (V.T @ u0)), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(flow.eigenvectors @ np.diag(flow.eigenvalues) @ flow.eigenvectors.T, theta, rtol=1e-10,
                               atol=1e-10)
    predictor = nt.KernelPredictor(theta, net.predict(w0, x).ravel(), y.ravel())
    assert isinstance(predictor.warnings, list)
