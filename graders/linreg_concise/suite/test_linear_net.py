"""linear_net: nn.Sequential(nn.Linear(num_inputs, 1)), weights from N(0, 0.01^2), bias zero."""

import numpy as np
import pytest

from autograder.checks import close, kind_name, short, tensor_of

pytestmark = pytest.mark.tags("linear_net")
SEQUENTIAL = "torch.nn.modules.container.Sequential"
LINEAR = "torch.nn.modules.linear.Linear"
INIT = "net[0].weight.data.normal_(0, 0.01) and net[0].bias.data.fill_(0)"
WEIGHT_STD = 0.01
DRAWS = 1500  # nets for the weights' statistics: 3000 weights pin the std down to about 1.3 %
FEW = 50  # nets for the checks that need no statistics


def one_net(student, num_inputs, X=None):
    out = student.probe("linear_net", what="linear_net", num_inputs=int(num_inputs), X=X)
    net = out["net"]
    assert net["kind"] == "module", (
        f"linear_net({num_inputs}) returns {kind_name(net)}; return the network, "
        "nn.Sequential(nn.Linear(num_inputs, 1))."
    )
    return out


def the_layer(net, num_inputs):
    """The single nn.Linear inside the nn.Sequential, failing with the reason otherwise."""
    assert SEQUENTIAL in net["classes"], (
        f"linear_net returns a bare {net['type']}, not an nn.Sequential. Wrap the layer, "
        "nn.Sequential(nn.Linear(num_inputs, 1)), so that net[0] is the layer as in the book."
    )
    layers = net["children"]
    assert len(layers) == 1, (
        f"The nn.Sequential holds {len(layers)} layers ({', '.join(c['type'] for c in layers)}); "
        "linear regression is a single nn.Linear layer."
    )
    layer = layers[0]
    assert LINEAR in layer["classes"], f"The layer is an {layer['type']}, not an nn.Linear."
    return layer


def find_linear(net):
    """The first nn.Linear in the net, the net itself included (None when there is none)."""
    if LINEAR in net["classes"]:
        return net
    for child in net["children"]:
        found = find_linear(child)
        if found is not None:
            return found
    return None


def draws(student, num_inputs, calls):
    """Weights (calls, 1, d) and biases (calls, 1) of many fresh nets."""
    out = student.probe("linear_net_draws", what="linear_net", num_inputs=int(num_inputs), calls=calls)
    assert not out["no_linear"], "linear_net returned a network without an nn.Linear layer."
    assert out["weights"] is not None, "linear_net returned weights of different shapes on different calls."
    return out


@pytest.mark.points(4)
def test_sequential_with_one_linear_layer(student, rng, params):
    """Returns nn.Sequential(nn.Linear(num_inputs, 1)) that computes X w + b
    Its structure, its parameters' shapes, and its output on 5 examples."""
    d = len(params["true_w"])
    X = rng.normal(0, 1, (5, d)).astype(np.float32)
    out = one_net(student, d, X)
    layer = the_layer(out["net"], d)
    weight, bias = layer["parameters"].get("weight"), layer["parameters"].get("bias")
    assert weight is not None and bias is not None, "The nn.Linear layer needs its weight and its bias."
    W = tensor_of(weight, "net[0].weight")
    assert W.shape == (1, d), (
        f"net[0].weight has shape {W.shape}; expected (1, {d}): nn.Linear(num_inputs, 1) takes "
        f"{d} inputs and gives one output."
    )
    assert out["forward_error"] is None, f"net(X) failed for X of shape (5, {d}): {out['forward_error']}"
    y_hat = tensor_of(out["output"], "net(X)")
    expected = X.astype(np.float64) @ W.T.astype(np.float64) + tensor_of(bias, "net[0].bias")
    assert close(y_hat, expected), f"net(X) gives {short(y_hat)}; expected X w + b = {short(expected)}."


@pytest.mark.points(3)
def test_follows_num_inputs(student, rng, params):
    """Makes a layer with num_inputs inputs, for 1 and two more drawn per student
    The number of features is an argument, not the notebook's."""
    others = [d for d in range(3, 10) if d != len(params["true_w"])]
    for d in (1, *(int(v) for v in rng.choice(others, 2, replace=False))):
        layer = find_linear(one_net(student, d)["net"])
        assert layer is not None, f"linear_net({d}) returns a network without an nn.Linear layer."
        weight = layer["parameters"].get("weight")
        assert weight is not None, "The nn.Linear layer has no weight."
        shape = tuple(weight["shape"])
        assert shape == (1, d), (
            f"linear_net({d}) makes a weight of shape {shape}; expected (1, {d}). Use "
            "nn.Linear(num_inputs, 1), not a fixed number of inputs."
        )


@pytest.mark.points(3)
def test_weights_drawn_from_normal_0_001(student, params):
    """Weights are drawn from N(0, 0.01^2)
    Mean and standard deviation of the weights of 1,500 fresh nets."""
    d = len(params["true_w"])
    W = draws(student, d, DRAWS)["weights"].astype(np.float64)
    assert W.shape[1:] == (1, d), f"linear_net({d}) makes weights of shape {W.shape[1:]}; expected (1, {d})."
    values = W.reshape(-1)
    if len(np.unique(W.reshape(len(W), -1), axis=0)) < len(W) // 2:
        # The same weights every call: the statistics below would be meaningless, so judge the
        # values alone (a 6-sigma bound); test_fresh_net_each_call reports the repetition.
        assert np.any(values), (
            f"The weights are all zero on every call: they must be drawn at random. Set them with {INIT}."
        )
        assert np.abs(values).max() < 6 * WEIGHT_STD, (
            f"The weights {short(values)} are far too large for N(0, 0.01^2). Set them with {INIT}."
        )
        return
    mean, std = values.mean(), values.std()
    seen = f"mean {mean:.2g} and standard deviation {std:.3g}"
    default_std = 1 / np.sqrt(3 * d)  # PyTorch's default: uniform on +-1/sqrt(num_inputs)
    if abs(std / default_std - 1) < 0.1:
        raise AssertionError(
            f"The weights have {seen}: that is PyTorch's default initialisation (uniform on "
            f"+-1/sqrt(num_inputs)). Replace it as the book does: {INIT}."
        )
    if abs(std / WEIGHT_STD**2 - 1) < 0.1:
        raise AssertionError(
            f"The weights have {seen}: 0.01 was used as the variance. normal_(mean, std) "
            "takes the standard deviation: normal_(0, 0.01)."
        )
    assert abs(std / WEIGHT_STD - 1) < 0.1 and abs(mean) < 6 * WEIGHT_STD / np.sqrt(values.size), (
        f"The weights have {seen}; expected mean 0 and standard deviation 0.01. Use {INIT}."
    )


@pytest.mark.points(3)
def test_bias_zero(student, params):
    """The bias starts at exactly zero
    Checked on 50 fresh nets."""
    out = draws(student, len(params["true_w"]), FEW)
    assert out["biases"] is not None, "The nn.Linear layer has no bias: keep bias=True (the default)."
    biases = out["biases"].reshape(-1)
    assert not np.any(biases), (
        f"The bias starts at {short(biases)}, not 0: PyTorch initialises it at random. "
        "Set it with net[0].bias.data.fill_(0) (or nn.init.zeros_(net[0].bias))."
    )


@pytest.mark.points(2)
def test_fresh_net_each_call(student, params):
    """Each call builds a new net with new random weights
    Training one net must not change the next; 50 calls are compared."""
    out = draws(student, len(params["true_w"]), FEW)
    assert out["distinct_objects"] == FEW, (
        "linear_net returned the same net object more than once: build it inside the function, "
        "so that every call starts from new parameters."
    )
    W = out["weights"].reshape(FEW, -1)
    distinct = len(np.unique(W, axis=0))
    assert distinct > FEW // 2, (
        f"{FEW} calls gave only {distinct} different weight vectors. Do not call "
        "torch.manual_seed inside linear_net: seed once, in the set-up cell."
    )
