"""Every exported course-API function against PyTorch autograd, forward and backward, on several
shapes. PyTorch is a test-only dependency: CI installs the CPU build (``.ci/run``); elsewhere
the module is skipped when torch is missing."""

import types

import numpy as np
import pytest

from numeric.export import module_source

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = {"rtol": 1e-9, "atol": 1e-10}


@pytest.fixture(scope="module")
def layers():
    module = types.ModuleType("layers")
    exec(compile(module_source("cs231n", "keep"), "layers", "exec"), module.__dict__)
    return module


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def check(outputs, grads, reference, inputs, dout):
    """``reference(*tensors)`` against the module's outputs and gradients."""
    tensors = [t(a) for a in inputs]
    out = reference(*tensors)
    np.testing.assert_allclose(outputs, out.detach().numpy(), **TOL)
    out.backward(torch.tensor(dout))
    for got, tensor in zip(grads, tensors):
        np.testing.assert_allclose(np.reshape(got, tensor.shape), tensor.grad.numpy(), **TOL)


@pytest.mark.parametrize("shape", [(2, 3), (4, 2, 3), (5, 7)])
def test_affine_and_relu(layers, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    d = int(np.prod(shape[1:]))
    w, b = rng.standard_normal((d, 4)), rng.standard_normal(4)
    out, cache = layers.affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    check(out, layers.affine_backward(dout, cache), lambda x, w, b: x.reshape(shape[0], d) @ w + b, (x, w, b), dout)
    out, cache = layers.relu_forward(x)
    dout = rng.standard_normal(out.shape)
    check(out, [layers.relu_backward(dout, cache)], F.relu, (x,), dout)


@pytest.mark.parametrize("shape", [(3, 4), (10, 5), (2, 3, 4)])
def test_dropout(layers, shape):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 1.5, shape)
    out, cache = layers.dropout_forward(x, {"p": 0.6, "mode": "train", "seed": 3})
    scale = out / x  # the mask, 1/p where kept and 0 where dropped
    assert set(np.round(np.unique(scale), 12)) <= {0.0, round(1 / 0.6, 12)}
    dout = rng.standard_normal(shape)
    check(out, [layers.dropout_backward(dout, cache)], lambda x: x * torch.tensor(scale), (x,), dout)
    test_out, _ = layers.dropout_forward(x, {"p": 0.6, "mode": "test"})
    np.testing.assert_allclose(test_out, x)


@pytest.mark.parametrize("n, c", [(3, 4), (10, 5), (1, 2)])
def test_softmax_and_svm_losses(layers, n, c):
    rng = np.random.default_rng(n + c)
    x, y = rng.standard_normal((n, c)), rng.integers(0, c, n)
    for ours, reference in ((layers.softmax_loss, lambda s: F.cross_entropy(s, torch.tensor(y))),
                            (layers.svm_loss, lambda s: c * F.multi_margin_loss(s, torch.tensor(y)))):
        loss, dx = ours(x, y)
        check(loss, [dx], reference, (x,), np.array(1.0))


@pytest.mark.parametrize("shape", [(4, 3), (16, 5), (2, 7)])
def test_batchnorm_and_layernorm(layers, shape):
    rng = np.random.default_rng(shape[0])
    x = 3 * rng.standard_normal(shape) + 1
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    dout = rng.standard_normal(shape)
    out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 1e-5})

    def bn(x, g, b):
        return F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)

    check(out, layers.batchnorm_backward(dout, cache), bn, (x, gamma, beta), dout)
    check(out, layers.batchnorm_backward_alt(dout, cache), bn, (x, gamma, beta), dout)
    out, cache = layers.layernorm_forward(x, gamma, beta, {"eps": 1e-5})
    check(out, layers.layernorm_backward(dout, cache),
          lambda x, g, b: F.layer_norm(x, (shape[1],), g, b, eps=1e-5), (x, gamma, beta), dout)


@pytest.mark.parametrize("shape, groups", [((2, 4, 3, 3), 2), ((3, 6, 2, 5), 3), ((1, 2, 4, 4), 1)])
def test_spatial_batchnorm_and_groupnorm(layers, shape, groups):
    rng = np.random.default_rng(shape[1])
    c = shape[1]
    x = 2 * rng.standard_normal(shape) - 1
    dout = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 1e-5})
    check(out, layers.spatial_batchnorm_backward(dout, cache),
          lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5), (x, gamma, beta), dout)
    g4, b4 = gamma.reshape(1, c, 1, 1), beta.reshape(1, c, 1, 1)
    out, cache = layers.spatial_groupnorm_forward(x, g4, b4, groups, {"eps": 1e-5})
    check(out, layers.spatial_groupnorm_backward(dout, cache),
          lambda x, g, b: F.group_norm(x, groups, g.reshape(c), b.reshape(c), eps=1e-5), (x, g4, b4), dout)


CONV = [((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 1, "pad": 1}),
        ((1, 2, 7, 6), (3, 2, 3, 2), {"stride": 2, "pad": 1}),
        ((2, 1, 4, 4), (2, 1, 2, 2), {"stride": 2, "pad": 0})]


@pytest.mark.parametrize("x_shape, w_shape, param", CONV)
@pytest.mark.parametrize("kind", ["naive", "fast"])
def test_convolution(layers, x_shape, w_shape, param, kind):
    rng = np.random.default_rng(x_shape[2])
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = getattr(layers, f"conv_forward_{kind}")(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    check(out, getattr(layers, f"conv_backward_{kind}")(dout, cache),
          lambda x, w, b: F.conv2d(x, w, b, stride=param["stride"], padding=param["pad"]), (x, w, b), dout)


POOL = [((2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2}),
        ((1, 2, 5, 5), {"pool_height": 3, "pool_width": 3, "stride": 1}),
        ((2, 1, 6, 4), {"pool_height": 2, "pool_width": 2, "stride": 2})]


@pytest.mark.parametrize("x_shape, param", POOL)
@pytest.mark.parametrize("kind", ["naive", "fast"])
def test_max_pooling(layers, x_shape, param, kind):
    rng = np.random.default_rng(x_shape[3])
    x = rng.standard_normal(x_shape)
    out, cache = getattr(layers, f"max_pool_forward_{kind}")(x, param)
    dout = rng.standard_normal(out.shape)
    window = (param["pool_height"], param["pool_width"])
    check(out, [getattr(layers, f"max_pool_backward_{kind}")(dout, cache)],
          lambda x: F.max_pool2d(x, window, stride=param["stride"]), (x,), dout)
