"""Check the claims behind issue 10's corpus cases with plain PyTorch, outside the kit.

Usage: .venv/bin/python scripts/corpus_oracle.py
Each case's code runs in a namespace like the notebook's (torch, nn, data, random) and is
observed directly, without the engine, probes or suites: what batches data_iter gives over
two epochs, how far sgd moves a parameter, what train_concise's net ends at. Prints one line
per claim and exits 1 if any claim does not hold.
"""

import random
import sys

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils import data

from autograder.corpus import cases, solved_cells

concise = cases("linreg_concise")
scratch = cases("linreg_scratch")

FAILED = []


def namespace(**extra):
    ns = {"torch": torch, "nn": nn, "data": data, "random": random, "noise_std": 0.01,
          "true_w": torch.tensor([2.0, -3.4]), "true_b": 4.2, **extra}
    return ns


def load(cells, **extra):
    ns = namespace(**extra)
    for source in cells.values():
        try:
            code = compile(source, "<answer>", "exec")
        except SyntaxError:  # a written answer (markdown), not code
            continue
        exec(code, ns)
    return ns


def case(cases, name):
    return next(c for c in cases if c.name == name).cells


def claim(text, ok):
    print(("ok   " if ok else "FAIL ") + text)
    if not ok:
        FAILED.append(text)


def epochs_of(data_iter, n, bs, d=2, epochs=2):
    X = torch.arange(n, dtype=torch.float32).reshape(-1, 1).repeat(1, d)
    y = torch.arange(n, dtype=torch.float32).reshape(-1, 1)
    return [[(Xb[:, 0].long().tolist(), yb.reshape(-1).long().tolist()) for Xb, yb in data_iter(bs, X, y)]
            for _ in range(epochs)]


def partition(epoch):
    return {frozenset(ix) for ix, _ in epoch}


def scratch_claims():
    ref = load(solved_cells("linreg_scratch"))
    e = epochs_of(ref["data_iter"], 35, 7)
    claim("reference data_iter: minibatches change from epoch to epoch", partition(e[0]) != partition(e[1]))
    for name in ("data_iter shuffles only inside fixed blocks", "data_iter visits fixed blocks in a random order"):
        e = epochs_of(load(case(scratch.WRONG, name))["data_iter"], 35, 7)
        claim(f"{name}: same minibatches every epoch, order differs",
              partition(e[0]) == partition(e[1]) and [i for b in e[0] for i in b[0]] != list(range(35)))
    e = epochs_of(load(case(scratch.WRONG, "data_iter spreads the examples evenly (np.array_split)"))["data_iter"],
                  38, 7, epochs=1)
    claim("array_split data_iter: sizes are not [7]*5 + [3]", [len(b[0]) for b in e[0]] != [7] * 5 + [3])
    e = epochs_of(load(case(scratch.WRONG, "data_iter with batch size 10 written in"))["data_iter"], 35, 7, epochs=1)
    claim("data_iter with 10 written in: batches of 10 when asked for 7", max(len(b[0]) for b in e[0]) == 10)
    for name in ("do-nothing data_iter: empty generator", "do-nothing data_iter: one batch of everything"):
        e = epochs_of(load(case(scratch.WRONG, name))["data_iter"], 35, 7, epochs=1)
        claim(f"{name}: {len(e[0])} batch(es)", len(e[0]) <= 1)

    def sgd_step(cells, lr, bs):
        ns = load(cells, answer=torch.tensor([1.0, 2.0, 3.0]))
        w = torch.tensor([[1.0], [2.0]], requires_grad=True)
        b = torch.tensor([0.5], requires_grad=True)
        w.grad, b.grad = torch.tensor([[4.0], [-2.0]]), torch.tensor([8.0])
        ns["sgd"]([w, b], lr, bs)
        return (torch.tensor([[1.0], [2.0]]) - w.detach()) / torch.tensor([[4.0], [-2.0]]), (0.5 - b.detach()) / 8
    for name, rate_w, rate_b in (("sgd with lr 0.03 written in", 0.03 / 4, 0.03 / 4),
                                 ("sgd divides by 10, not batch_size", 0.1 / 10, 0.1 / 10),
                                 ("sgd divides only w's step by batch_size", 0.1 / 4, 0.1),
                                 ("sgd clears the gradient before the step", 0.0, 0.0)):
        rw, rb = sgd_step(case(scratch.WRONG, name), 0.1, 4)
        claim(f"{name}: lr 0.1, batch 4 steps by {rate_w:g} (w) and {rate_b:g} (b) times the gradient",
              torch.allclose(rw, torch.full_like(rw, rate_w)) and torch.allclose(rb, torch.full_like(rb, rate_b)))
    ns = load(case(scratch.WRONG, "synthetic_data draws the noise with the variance"))
    X, y = ns["synthetic_data"](torch.tensor([2.0, -3.4]), 4.2, 20000)
    resid = (y.reshape(-1) - X @ torch.tensor([2.0, -3.4]) - 4.2).std()
    claim(f"noise with the variance: residual std {resid:.2g} is noise_std**2", abs(resid / 1e-4 - 1) < 0.1)
    ns = load(case(scratch.WRONG, "synthetic_data adds (n,) noise to (n, 1) labels"))
    claim("(n,) noise on (n, 1) labels: labels (n, n)", ns["synthetic_data"](torch.tensor([2.0, -3.4]), 4.2, 9)[1].shape
          == (9, 9))
    ns = load(case(scratch.WRONG, "linreg adds b.item()"))
    w, b = torch.ones(2, 1, requires_grad=True), torch.ones(1, requires_grad=True)
    ns["linreg"](torch.ones(3, 2), w, b).sum().backward()
    claim("linreg with b.item(): b.grad stays None", b.grad is None and w.grad is not None)


def train(cells, seed, **kwargs):
    ref = solved_cells("linreg_concise")
    ns = load({**{k: v for k, v in ref.items() if k in ("load_array", "linear_net")}, **cells})
    torch.manual_seed(0)
    X = torch.randn(1000, 2)
    y = (X @ torch.tensor([2.0, -3.4]) + 4.2 + 0.01 * torch.randn(1000)).reshape(-1, 1)
    torch.manual_seed(seed)
    random.seed(seed)
    steps = []
    handle = register_optimizer_step_post_hook(lambda *a: steps.append(1))
    try:
        net = ns["train_concise"](X, y, **kwargs)
    finally:
        handle.remove()
    return net, len(steps)


def concise_claims():
    ref, n_ref = train({"train_concise": concise.TRAIN}, 1)
    closure, n_closure = train(case(concise.RIGHT, "train_concise stepping with trainer.step(closure)"), 1)
    claim("trainer.step(closure): the same parameters as the book's loop under the same seed, 300 steps",
          n_ref == n_closure == 300 and all(torch.allclose(a, b) for a, b in zip(ref.parameters(),
                                                                                closure.parameters(), strict=True)))
    for name, steps in (("train_concise steps once per epoch, outside the minibatch loop", 3),
                        ("train_concise makes a new net and optimizer every epoch", 300),
                        ("train_concise trains on the first minibatch only", 300),
                        ("train_concise fits in closed form, no loss, optimizer or step", 0)):
        _, n = train(case(concise.WRONG, name), 1)
        claim(f"{name}: {n} optimizer steps (expected {steps})", n == steps)
    fit, _ = train(case(concise.WRONG, "train_concise fits in closed form, no loss, optimizer or step"), 1)
    claim("closed-form fit: recovers w and b without training",
          torch.allclose(fit[0].weight.detach(), torch.tensor([[2.0, -3.4]]), atol=0.01))
    ns = load(case(concise.WRONG, "load_array shuffles fixed blocks"))
    ds = (torch.arange(35.0).reshape(-1, 1), torch.arange(35.0))
    loader = ns["load_array"](ds, 7)
    e = [[b[0].reshape(-1).long().tolist() for b in loader] for _ in range(2)]
    claim("load_array shuffling fixed blocks: same minibatches each epoch",
          {frozenset(b) for b in e[0]} == {frozenset(b) for b in e[1]})
    loader = load(case(concise.WRONG, "load_array with batch size 10 written in"))["load_array"](ds, 7)
    claim("DataLoader(ds, 10): batches of 10 when asked for 7", max(len(b[0]) for b in loader) == 10)


if __name__ == "__main__":
    scratch_claims()
    concise_claims()
    sys.exit(1 if FAILED else 0)
