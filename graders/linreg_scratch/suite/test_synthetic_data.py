"""synthetic_data: features ~ N(0, 1), labels = Xw + b + noise, shaped (n, d) and (n, 1)."""

import numpy as np
import pytest

from autograder.checks import items_of, shape_of, short, tensor_of

pytestmark = pytest.mark.tags("synthetic_data")


def generate(student, w, b, n, calls=1):
    out = student.probe("synthetic_data", what="synthetic_data",
                        w=np.asarray(w, dtype=np.float32), b=float(b), num_examples=int(n),
                        calls=calls)
    return [items_of(desc, "What synthetic_data returns", 2) for desc in out["calls"]]


def random_problem(rng, d, n):
    return rng.normal(0, 2, d).round(2), round(float(rng.uniform(-5, 5)), 2), n


def fit(X, y):
    """Least squares of y on [X, 1], on the trusted side: (weights, bias, residual std)."""
    A = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)
    residual = y - A @ coef
    return coef[:-1], coef[-1], residual.std(ddof=A.shape[1])


def labels_vector(y_desc, n):
    y = tensor_of(y_desc, "The labels")
    if y.shape == (n, n):
        raise AssertionError(
            f"The labels have shape ({n}, {n}): labels of shape ({n}, 1) plus noise of shape ({n},) "
            "broadcast to a matrix. Draw the noise with the labels' own shape, "
            "torch.normal(0, noise_std, y.shape)."
        )
    assert y.size == n, (
        f"The labels hold {y.size} values for {n} examples (shape {y.shape}). One label per "
        "example: compute torch.matmul(X, w) + b; `X * w` multiplies elementwise instead."
    )
    return y.reshape(-1)


@pytest.mark.points(3)
def test_shapes_and_dtype(student, rng, params):
    """Returns features of shape (n, d) and labels of shape (n, 1), both float32
    Called with the assignment's true_w, true_b and num_examples, and with a w, b and n drawn per
    student; checked only when the labels follow the features."""
    notebook = (params["true_w"], params["true_b"], params["num_examples"])
    for w, b, n in (notebook, random_problem(rng, int(rng.integers(3, 7)), int(rng.integers(200, 600)))):
        check_shapes(student, w, b, n)


def check_shapes(student, w, b, n):
    X, y = generate(student, w, b, n)[0]
    features, labels = tensor_of(X, "The features"), tensor_of(y, "The labels")
    if labels.shape == (n, n):
        labels_vector(y, n)
    assert shape_of(X) == (n, len(w)), (
        f"The features have shape {shape_of(X)}; expected ({n}, {len(w)}): one row per example, "
        "one column per feature (torch.normal(0, 1, (num_examples, len(w))))."
    )
    if shape_of(y) == (n,):
        raise AssertionError(
            f"The labels have shape ({n},); expected ({n}, 1). torch.matmul(X, w) with a 1-D w "
            "gives a vector: return y.reshape((-1, 1)) so each label is a row, like the features."
        )
    assert shape_of(y) == (n, 1), f"The labels have shape {shape_of(y)}; expected ({n}, 1)."
    w_fit, b_fit, _ = fit(features, labels.reshape(-1))
    assert np.ptp(features) > 0 and np.abs(w_fit - np.asarray(w)).max() < 0.5 + 0.1 * np.abs(w).max(), (
        "Shapes and dtype are checked only when the labels are a linear function of the features "
        f"(X w + b): fitting them gives w = {short(w_fit)} for w = {short(w)}."
    )
    for what, desc in (("features", X), ("labels", y)):
        assert desc["dtype"] == "float32", (
            f"The {what} are {desc['dtype']}; expected float32, PyTorch's default. float64 "
            "usually comes from NumPy arrays or from torch.tensor(..., dtype=torch.float64)."
        )


@pytest.mark.points(3)
def test_features_standard_normal(student, rng):
    """Features are drawn from the standard normal distribution N(0, 1)
    Mean, standard deviation, kurtosis and column correlation of 12,000 draws."""
    w, b, n = random_problem(rng, 3, 4000)
    X = tensor_of(generate(student, w, b, n)[0][0], "The features").astype(np.float64)
    assert X.shape == (n, 3), f"The features have shape {X.shape}; expected ({n}, 3)."
    mean, std = X.mean(), X.std()
    kurtosis = ((X - mean) ** 4).mean() / std**4
    seen = f"mean {mean:.3f}, standard deviation {std:.3f}, kurtosis {kurtosis:.2f}"
    assert abs(mean) < 0.06 and abs(std - 1) < 0.05, (
        f"The features have {seen}; N(0, 1) has mean 0 and standard deviation 1. "
        "Use torch.normal(0, 1, size); torch.rand draws uniformly from [0, 1)."
    )
    assert abs(kurtosis - 3) < 0.4, (
        f"The features have {seen}: mean and spread are right but the shape is not normal "
        "(kurtosis 3). Draw them with torch.normal(0, 1, size)."
    )
    corr = np.corrcoef(X.T)[np.triu_indices(3, 1)]
    assert np.abs(corr).max() < 0.1, (
        f"The feature columns are correlated ({short(corr, 2)}): each entry must be an "
        "independent draw, not one column repeated."
    )


@pytest.mark.points(5)
def test_labels_are_linear_with_bias(student, rng, params):
    """Labels equal X w + b (plus noise) for a new w and b
    A least-squares fit of the labels on the features recovers w and b."""
    d = int(rng.integers(2, 7))
    w, b, n = random_problem(rng, d, 2000)
    X_desc, y_desc = generate(student, w, b, n)[0]
    X = tensor_of(X_desc, "The features")
    assert X.shape == (n, d), f"The features have shape {X.shape}; expected ({n}, {d})."
    w_fit, b_fit, _ = fit(X, labels_vector(y_desc, n))
    # The fit's own error is about noise / sqrt(n) per coefficient: six of those on top.
    tol = 0.01 + 0.002 * np.abs(w).max() + 6 * params["noise"] / np.sqrt(n)
    if np.allclose(w_fit, w, atol=tol) and abs(b_fit) < tol and abs(b) > 10 * tol:
        raise AssertionError(
            f"The labels fit X w with intercept {b_fit:.3f} instead of b = {b}: "
            "the bias is missing. Labels are torch.matmul(X, w) + b plus noise."
        )
    assert np.allclose(w_fit, w, atol=tol) and abs(b_fit - b) < tol, (
        f"Fitting the labels on the features gives w = {short(w_fit)}, b = {b_fit:.4f}, but "
        f"they were made with w = {short(w)}, b = {b}. Labels are torch.matmul(X, w) + b plus "
        "noise, with X the features you return."
    )


@pytest.mark.points(3)
def test_noise_level(student, rng, params):
    """Label noise is Gaussian with the assignment's standard deviation
    The residual standard deviation of a least-squares fit is compared with noise_std."""
    noise = params["noise"]
    w, b, n = random_problem(rng, 2, 4000)
    X_desc, y_desc = generate(student, w, b, n)[0]
    X = tensor_of(X_desc, "The features")
    assert X.shape == (n, 2), f"The features have shape {X.shape}; expected ({n}, 2)."
    *_, resid = fit(X, labels_vector(y_desc, n))
    # float32 labels of this size fit X w + b to about 1e-6 when nothing was added
    assert resid > 1e-5, (
        f"The labels fit X w + b exactly (residual std {resid:.2g}): no noise was added. "
        f"Add torch.normal(0, noise_std, y.shape) with noise_std = {noise}."
    )
    if noise != 1 and abs(resid / noise**2 - 1) < 0.15:
        raise AssertionError(
            f"The noise in the labels has standard deviation {resid:.4g}, which is noise_std squared "
            f"({noise}^2): torch.normal(mean, std, size) takes the standard deviation, not the variance. "
            "Use torch.normal(0, noise_std, y.shape)."
        )
    assert abs(resid / noise - 1) < 0.15, (
        f"The noise in the labels has standard deviation {resid:.4g}; expected {noise}. "
        "torch.normal(mean, std, size) takes the standard deviation, not the variance."
    )


@pytest.mark.points(1)
def test_fresh_data_each_call(student, rng):
    """Each call draws new data
    Two calls with the same arguments must not return the same features."""
    w, b, n = random_problem(rng, 2, 50)
    (X1, _), (X2, _) = generate(student, w, b, n, calls=2)
    X1, X2 = tensor_of(X1, "The features"), tensor_of(X2, "The features")
    assert X1.shape != X2.shape or not np.array_equal(X1, X2), (
        "Two calls returned identical features. Do not call torch.manual_seed inside "
        "synthetic_data: seed once, in the set-up cell."
    )
