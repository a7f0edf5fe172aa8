"""The SGD theory of the linear-regression assignments, written once (the suites' tolerances and the
variants' learning rates, epochs and messages all use it).

For the book's loop (squared error / 2, gradient averaged over a minibatch of ``batch_size``) on
features x ~ N(0, I_d) with a bias, the step's second moment is 1 + (d + 2) / batch_size (the
bias adds one more feature of 1s), so the squared error shrinks per step by
1 - 2 lr + lr^2 (1 + (d + 2) / batch_size): below 1 only for lr under 2 / that. A loss whose
gradient is ``lr_scale`` times the book's (2 for nn.MSELoss) steps as with lr * lr_scale.
"""

from __future__ import annotations

import math

FORMULA = "2 / (1 + (d + 2) / batch_size)"  # stability_limit, as messages write it


def second_moment(d: int, batch_size: int) -> float:
    return 1 + (d + 2) / batch_size


def stability_limit(d: int, batch_size: int, lr_scale: float = 1.0) -> float:
    """The largest step size for which minibatch SGD stays stable in mean square."""
    return 2 / second_moment(d, batch_size) / lr_scale


def shrink(lr: float, d: int, batch_size: int) -> float:
    """Of the mean squared error in (w, b), per step (lr already scaled)."""
    return 1 - 2 * lr + lr**2 * second_moment(d, batch_size)


def jitter(noise: float, lr: float, d: int, batch_size: int, num_examples: int) -> float:
    """One standard deviation of where a correct loop ends: SGD with constant lr jitters around the
    least-squares fit (variance about lr noise^2 / (batch_size (2 - lr (1 + (d + 2) / batch_size)))
    per coordinate), and that fit sits about noise / sqrt(num_examples) from the truth."""
    stability = max(2 - lr * second_moment(d, batch_size), 0.1)
    return noise * math.sqrt(lr / (batch_size * stability) + 1 / num_examples)
