"""Probes for the concise assignment (d2l 3.3): each calls one student function and describes it.

``probe_train_concise`` runs the student's training function with the grader's own
``load_array`` and ``linear_net`` in its namespace, so its tests judge the training loop and
not the other two answers (they have tests of their own). It watches the loop through
PyTorch's global hooks: every ``nn.Linear`` forward and every ``torch.optim`` step, with the
minibatch, the parameters and their gradients around the first few steps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch._dynamo  # noqa: F401  (torch.optim imports it on first use: 2-3 s in each worker unless the fork server has it)
from torch import nn
from torch.nn.modules.module import register_module_forward_hook
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils import data

from autograder.probes import describe, student_function, tensor

# -- the reference helpers train_concise is run with -----------------------------------------

def reference_load_array(data_arrays: Any, batch_size: int, is_train: bool = True) -> data.DataLoader:
    return data.DataLoader(data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)


def reference_linear_net(num_inputs: int) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    return net


# -- load_array and linear_net -----------------------------------------------------------------

def probe_load_array(ns: dict[str, Any], arrays: list, batch_size: int, is_train: bool | None = None,
                     epochs: int = 1, max_batches: int = 10_000) -> dict[str, Any]:
    """One call of load_array, then ``epochs`` passes over what it returned."""
    load_array = student_function(ns, "load_array")
    tensors = tuple(tensor(a) for a in arrays)
    if is_train is None:
        loader = load_array(tensors, batch_size)
    else:
        loader = load_array(tensors, batch_size, is_train=is_train)
    runs = []
    for _ in range(epochs):
        batches = []
        for count, batch in enumerate(loader):
            if count >= max_batches:
                return {"loader": describe(loader), "runs": runs, "endless": True}
            batches.append(describe(batch))
        runs.append(batches)
    return {"loader": describe(loader), "runs": runs, "endless": False}


def probe_load_array_many(ns: dict[str, Any], configs: list, *, _one: Any = probe_load_array) -> dict[str, Any]:
    """Several ``probe_load_array`` calls in one round trip (each config holds its arguments).

    ``_one`` is bound at import, before student code runs (replacing the module's
    ``probe_load_array`` changes nothing here).
    """
    return {"results": [_one(ns, **config) for config in configs]}


def first_linear(net: Any) -> nn.Linear | None:
    if not isinstance(net, nn.Module):
        return None
    return next((m for m in net.modules() if isinstance(m, nn.Linear)), None)


def probe_linear_net(ns: dict[str, Any], num_inputs: int, X: Any = None) -> dict[str, Any]:
    """One net: its structure and parameters, and its output on X when given."""
    linear_net = student_function(ns, "linear_net")
    net = linear_net(num_inputs)
    result: dict[str, Any] = {"net": describe(net), "output": None, "forward_error": None}
    if X is not None and isinstance(net, nn.Module):
        try:
            with torch.no_grad():
                result["output"] = describe(net(tensor(X)))
        except Exception as exc:  # noqa: BLE001 - reported to the grader as text
            result["forward_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return result


def probe_linear_net_draws(ns: dict[str, Any], num_inputs: int, calls: int) -> dict[str, Any]:
    """The first linear layer's weight and bias of ``calls`` nets, stacked (None when they differ in shape)."""
    linear_net = student_function(ns, "linear_net")
    nets = [linear_net(num_inputs) for _ in range(calls)]
    layers = [first_linear(net) for net in nets]
    result: dict[str, Any] = {"distinct_objects": len({id(net) for net in nets}), "weights": None,
                              "biases": None, "no_linear": any(layer is None for layer in layers)}
    if result["no_linear"]:
        return result
    weights = [layer.weight.detach().to("cpu").float() for layer in layers]
    if len({tuple(w.shape) for w in weights}) == 1:
        result["weights"] = torch.stack(weights).numpy()
    if all(layer.bias is not None for layer in layers):
        biases = [layer.bias.detach().to("cpu").float() for layer in layers]
        if len({tuple(b.shape) for b in biases}) == 1:
            result["biases"] = torch.stack(biases).numpy()
    return result


# -- train_concise -----------------------------------------------------------------------------

class LoopRecorder:
    """Global-hook callbacks: every optimizer step, with the minibatch the net saw last before it.

    What a step used is read after it (the post-hook): with ``trainer.step(closure)`` the forward
    pass and ``backward()`` run inside ``step()``. The parameters before a step are read before it.
    """

    MAX_ROWS = 50_000  # inputs kept for the grader to trace minibatches back to the data

    def __init__(self, trace_steps: int, max_steps: int) -> None:
        self.trace_steps = trace_steps
        self.max_steps = max_steps
        self.last_input: Any = None
        self.sizes: list[int | None] = []
        self.lrs: list[list[float]] = []
        self.optimizers: list[str] = []
        self.trace: list[dict[str, Any]] = []
        self.before: list[Any] = []
        self.grads: list[Any] = []
        self.after: list[Any] = []
        self.param_sets: list[int] = []
        self.inputs: list[Any] = []
        self.rows = 0
        self._keys: dict[tuple[int, ...], int] = {}
        self._objects: list[list[Any]] = []  # the parameters, kept alive so that ids stay unique
        self._pending: dict[str, Any] | None = None

    def forward(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not isinstance(module, nn.Linear) or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        self.last_input = inputs[0]

    def before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if len(self.sizes) >= self.max_steps:
            raise RuntimeError(f"train_concise took more than {self.max_steps} optimizer steps, far more "
                               "than its epochs over the data need: does its loop ever end?")
        params = [p for group in optimizer.param_groups for p in group["params"]]
        self._pending = {"before_flat": flat(params),
                         "before": [describe(p) for p in params] if len(self.trace) < self.trace_steps else None}

    def after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        X = self.last_input
        size = None if X is None else (int(X.shape[0]) if X.dim() > 1 else 1)
        self.sizes.append(size)
        self.lrs.append([float(group.get("lr", math.nan)) for group in optimizer.param_groups])
        self.optimizers.append(type(optimizer).__name__)
        key = tuple(id(p) for p in params)
        if key not in self._keys:
            self._keys[key] = len(self._keys)
            self._objects.append(params)
        self.param_sets.append(self._keys[key])
        self.before.append(pending["before_flat"])
        self.grads.append(flat([p.grad if p.grad is not None else torch.full_like(p, math.nan) for p in params]))
        self.after.append(flat(params))
        batch = None if X is None else X.detach().reshape(size, -1).clone()
        if batch is not None and self.rows + len(batch) <= self.MAX_ROWS:
            self.inputs.append(batch)
            self.rows += len(batch)
        if pending["before"] is not None:
            shown = None if batch is None else batch.to("cpu", torch.float32).numpy()
            self.trace.append({"input": shown, "optimizer": type(optimizer).__name__,
                               "before": pending["before"], "grads": [describe(p.grad) for p in params],
                               "after": [describe(p) for p in params]})

    def trajectory(self, net: Any) -> dict[str, Any]:
        """The steps as arrays, one row each (None when the parameters changed size)."""
        out: dict[str, Any] = {"before": rows_of(self.before), "grads": rows_of(self.grads),
                               "after": rows_of(self.after)}
        same_width = len({b.shape[1] for b in self.inputs}) <= 1
        out["inputs"] = (torch.cat(self.inputs).to("cpu", torch.float32).numpy()
                         if self.inputs and same_width else None)
        out["param_sets"] = self.param_sets
        last = next((k for k, v in self._keys.items() if v == self.param_sets[-1]), None) if self.param_sets else None
        out["returned_is_stepped"] = (isinstance(net, nn.Module) and last is not None
                                      and set(id(p) for p in net.parameters()) == set(last))
        return out


def flat(tensors: list) -> torch.Tensor:
    """The tensors' values as one flat copy (kept as a tensor: one conversion at the end, not per step)."""
    with torch.no_grad():
        return torch.cat([t.detach().reshape(-1) for t in tensors]) if tensors else torch.zeros(0)


def rows_of(values: list) -> Any:
    """Equal-length flat copies as one float64 array, None when their lengths differ."""
    if not values or len({len(v) for v in values}) != 1:
        return None
    return torch.stack(values).to("cpu", torch.float64).numpy()


def probe_train_concise(ns: dict[str, Any], features: Any, labels: Any, kwargs: dict[str, Any],
                        eval_X: Any, max_steps: int, device: str = "cpu", trace_steps: int = 3) -> dict[str, Any]:
    """Run train_concise(features, labels, **kwargs) and describe the loop and the net it returns.

    A loop that steps more than ``max_steps`` times is stopped with an error: it would not end.
    """
    train_concise = student_function(ns, "train_concise")
    X, y = tensor(features, device=device), tensor(labels, device=device)
    recorder = LoopRecorder(trace_steps, max_steps)
    saved = {name: ns[name] for name in ("load_array", "linear_net") if name in ns}
    ns.update(load_array=reference_load_array, linear_net=reference_linear_net)
    handles = [register_module_forward_hook(recorder.forward),
               register_optimizer_step_pre_hook(recorder.before_step),
               register_optimizer_step_post_hook(recorder.after_step)]
    try:
        net = train_concise(X, y, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
        for name in ("load_array", "linear_net"):
            ns.pop(name, None)
        ns.update(saved)
    result: dict[str, Any] = {
        "returned": describe(net), "predictions": None, "forward_error": None,
        "steps": {"sizes": recorder.sizes, "lrs": recorder.lrs, "optimizers": recorder.optimizers},
        "trace": recorder.trace, "trajectory": recorder.trajectory(net),
    }
    if isinstance(net, nn.Module):
        try:
            with torch.no_grad():
                result["predictions"] = describe(net(tensor(eval_X, device=device)))
        except Exception as exc:  # noqa: BLE001 - reported to the grader as text
            result["forward_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return result


# -- the exercises -----------------------------------------------------------------------------

def probe_sum_reduction_lr(ns: dict[str, Any], lr: float, batch_size: int, X: Any, y: Any, w: Any,
                           b: Any) -> dict[str, Any]:
    """The student's rate for reduction='sum', and one SGD step with it next to the mean's step with lr."""
    sum_reduction_lr = student_function(ns, "sum_reduction_lr")
    value = sum_reduction_lr(lr, batch_size)
    result: dict[str, Any] = {"value": describe(value), "steps": None}
    try:
        rate = float(value)
    except (TypeError, ValueError, RuntimeError):
        return result
    if not math.isfinite(rate) or rate < 0:
        return result
    steps = {}
    for reduction, step_lr in (("mean", lr), ("sum", rate)):
        net = nn.Linear(len(w), 1)
        with torch.no_grad():
            net.weight.copy_(tensor(w).reshape(1, -1))
            net.bias.copy_(tensor(b).reshape(1))
        trainer = torch.optim.SGD(net.parameters(), lr=step_lr)
        trainer.zero_grad()
        nn.MSELoss(reduction=reduction)(net(tensor(X)), tensor(y)).backward()
        trainer.step()
        steps[reduction] = {"weight": describe(net.weight), "bias": describe(net.bias)}
    result["steps"] = steps
    return result


def probe_huber_loss(ns: dict[str, Any], y_hat: Any, y: Any, delta: float | None = None) -> dict[str, Any]:
    """huber_loss on these values, and the gradient of (the sum of) what it returns."""
    huber_loss = student_function(ns, "huber_loss")
    y_hat_t = tensor(y_hat, requires_grad=True)
    out = huber_loss(y_hat_t, tensor(y)) if delta is None else huber_loss(y_hat_t, tensor(y), delta=delta)
    result = {"output": describe(out), "y_hat_grad": None}
    if isinstance(out, torch.Tensor) and out.grad_fn is not None:
        out.sum().backward()
        result["y_hat_grad"] = describe(y_hat_t.grad)
    return result


def probe_weight_grad(ns: dict[str, Any], W: Any, b: Any, X: Any, y: Any, stale: bool = False) -> dict[str, Any]:
    """weight_grad on a fresh net (or one holding stale gradients), and its parameters afterwards."""
    weight_grad = student_function(ns, "weight_grad")
    W_t = tensor(W)
    net = nn.Sequential(nn.Linear(W_t.shape[1], 1))
    with torch.no_grad():
        net[0].weight.copy_(W_t)
        net[0].bias.copy_(tensor(b).reshape(1))
    if stale:  # as if an earlier backward() had run and nobody cleared it
        net[0].weight.grad = torch.full_like(net[0].weight, 7.0)
        net[0].bias.grad = torch.full_like(net[0].bias, 7.0)
    output = describe(weight_grad(net, tensor(X), tensor(y)))
    return {"output": output, "weight": describe(net[0].weight), "bias": describe(net[0].bias)}
