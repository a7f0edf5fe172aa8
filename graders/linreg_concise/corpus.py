"""Corpus for the concise assignment: classic mistakes and differently-right answers.

Scores per part: load_array 20, linear_net 15, train_concise 40, sum_reduction_lr 5,
huber_loss 10, weight_grad 10. train_concise is graded with the grader's own load_array and
linear_net, so a mistake in those two costs only their own part.
"""

from autograder.corpus import Case

LOAD_ARRAY = '''
def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)
'''

LINEAR_NET = '''
def linear_net(num_inputs):
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    return net
'''

TRAIN = '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    data_iter = load_array((features, labels), batch_size)
    net = linear_net(features.shape[1]).to(features.device)
    loss = nn.MSELoss()
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        with torch.no_grad():
            l = loss(net(features), labels)
        print(f"epoch {epoch + 1}, loss {l:f}")
    return net
'''

WEIGHT_GRAD = '''
def weight_grad(net, X, y):
    net.zero_grad()
    nn.MSELoss()(net(X), y).backward()
    return net[0].weight.grad
'''


def edit(name: str, template: str, *replacements: tuple[str, str]) -> dict[str, str]:
    """The reference answer ``template`` with each (old, new) replaced; every old must occur."""
    source = template
    for old, new in replacements:
        assert old in source, f"{old!r} is not in the reference {name}"
        source = source.replace(old, new)
    return {name: source}


def load_array(*replacements: tuple[str, str]) -> dict[str, str]:
    return edit("load_array", LOAD_ARRAY, *replacements)


def linear_net(*replacements: tuple[str, str]) -> dict[str, str]:
    return edit("linear_net", LINEAR_NET, *replacements)


def train(*replacements: tuple[str, str]) -> dict[str, str]:
    return edit("train_concise", TRAIN, *replacements)


BOOK_STEP = "            trainer.zero_grad()\n            l.backward()\n            trainer.step()\n"

WRONG = [
    Case("load_array never shuffles", load_array(("shuffle=is_train", "shuffle=False")),
         {"load_array": 17}, "original order"),
    Case("load_array shuffles even when is_train is False", load_array(("shuffle=is_train", "shuffle=True")),
         {"load_array": 18}, "should keep their order"),
    Case("load_array drops the last, smaller batch",
         load_array(("shuffle=is_train", "shuffle=is_train, drop_last=True")),
         {"load_array": 17}, "drop_last=True"),
    Case("load_array returns a one-shot iterator",
         load_array(("return data.DataLoader(dataset, batch_size, shuffle=is_train)",
                     "return iter(data.DataLoader(dataset, batch_size, shuffle=is_train))")),
         {"load_array": 15}, "one-shot"),
    Case("linear_net keeps PyTorch's default initialisation",
         linear_net(("    net[0].weight.data.normal_(0, 0.01)\n    net[0].bias.data.fill_(0)\n", "")),
         {"linear_net": 9}, "default initialisation"),
    Case("linear_net ignores num_inputs", linear_net(("nn.Linear(num_inputs, 1)", "nn.Linear(2, 1)")),
         {"linear_net": 12}, "not a fixed number of inputs"),
    Case("linear_net takes 0.01 for the variance", linear_net(("normal_(0, 0.01)", "normal_(0, 0.0001)")),
         {"linear_net": 12}, "as the variance"),
    Case("linear_net returns the layer without nn.Sequential", {"linear_net": '''
def linear_net(num_inputs):
    layer = nn.Linear(num_inputs, 1)
    layer.weight.data.normal_(0, 0.01)
    layer.bias.data.fill_(0)
    return layer
'''}, {"linear_net": 11}, "not an nn.Sequential"),
    Case("train_concise never clears the gradients", train(("            trainer.zero_grad()\n", "")),
         {"train_concise": 25}, "trainer.zero_grad() in every iteration"),
    Case("train_concise steps before backward",
         train((BOOK_STEP, "            trainer.zero_grad()\n            trainer.step()\n            l.backward()\n")),
         {"train_concise": 24}, "step() came before l.backward()"),
    Case("train_concise ignores lr", train(("lr=lr)", "lr=0.03)")), {"train_concise": 36},
         "the optimizer used lr = 0.03"),
    Case("train_concise ignores batch_size", train(("(features, labels), batch_size)", "(features, labels), 10)")),
         {"train_concise": 36}, "Pass the argument on"),
    Case("train_concise returns after the first minibatch",
         train((BOOK_STEP, BOOK_STEP + "            return net\n")),
         {"train_concise": 26}, "within the first epoch"),
    Case("train_concise returns after the first epoch",
         train(('        print(f"epoch {epoch + 1}, loss {l:f}")\n',
                '        print(f"epoch {epoch + 1}, loss {l:f}")\n        return net\n')),
         {"train_concise": 36}, "expected 2 passes"),
    Case("train_concise uses the absolute error (nn.L1Loss)", train(("loss = nn.MSELoss()", "loss = nn.L1Loss()")),
         {"train_concise": 34}, "nn.L1Loss"),
    Case("train_concise sums the loss and keeps lr",
         train(("loss = nn.MSELoss()", "loss = nn.MSELoss(reduction='sum')")),
         {"train_concise": 34}, "reduction='sum'"),
    Case("train_concise adds momentum", train(("lr=lr)", "lr=lr, momentum=0.9)")),
         {"train_concise": 36}, "no momentum"),
    Case("train_concise sizes the net from the notebook's true_w",
         train(("linear_net(features.shape[1])", "linear_net(len(true_w))")),
         {"train_concise": 37}, "features.shape[1]"),
    Case("train_concise trains on the notebook's global data",
         train(("def train_concise(features, labels,", "def train_concise(X_train, y_train,")),
         {"train_concise": 17}, "not the notebook's global features"),
    Case("sum_reduction_lr multiplies by the batch size",
         {"sum_reduction_lr": "def sum_reduction_lr(lr, batch_size):\n    return lr * batch_size\n"},
         {"sum_reduction_lr": 0}, "divide the learning rate"),
    Case("sum_reduction_lr hard-codes the notebook's answer",
         {"sum_reduction_lr": "def sum_reduction_lr(lr, batch_size):\n    return 0.003\n"},
         {"sum_reduction_lr": 3}, "How much larger"),
    Case("huber_loss is the book's sigma variant (SmoothL1Loss)", {"huber_loss": '''
def huber_loss(y_hat, y, delta=1.0):
    error = torch.abs(y_hat - y)
    return torch.where(error > delta, error - delta / 2, error ** 2 / (2 * delta)).mean()
'''}, {"huber_loss": 8}, "nn.SmoothL1Loss"),
    Case("huber_loss without the linear branch", {"huber_loss": '''
def huber_loss(y_hat, y, delta=1.0):
    return (0.5 * (y_hat - y) ** 2).mean()
'''}, {"huber_loss": 4}, "linear for errors beyond delta"),
    Case("huber_loss cut from the autograd graph", {"huber_loss": '''
def huber_loss(y_hat, y, delta=1.0):
    return nn.HuberLoss(delta=delta)(y_hat, y).detach()
'''}, {"huber_loss": 8}, "cut from the autograd graph"),
    Case("weight_grad does not clear old gradients",
         edit("weight_grad", WEIGHT_GRAD, ("    net.zero_grad()\n", "")),
         {"weight_grad": 7}, "net.zero_grad()"),
    Case("weight_grad returns the weight, not its gradient",
         edit("weight_grad", WEIGHT_GRAD, ("net[0].weight.grad", "net[0].weight")),
         {"weight_grad": 0}, "the weight itself"),
    Case("weight_grad takes an optimizer step", edit("weight_grad", WEIGHT_GRAD, (
        "    return net[0].weight.grad",
        "    grad = net[0].weight.grad.clone()\n    torch.optim.SGD(net.parameters(), lr=0.1).step()\n"
        "    return grad")), {"weight_grad": 8}, "must not update"),
]

RIGHT = [
    Case("load_array through a DataLoader subclass with explicit samplers", {"load_array": '''
class MinibatchLoader(data.DataLoader):
    """A DataLoader whose sampler is spelled out."""


def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    sampler = data.RandomSampler(dataset) if is_train else data.SequentialSampler(dataset)
    return MinibatchLoader(dataset, batch_size=batch_size, sampler=sampler)
'''}),
    Case("linear_net with nn.init.normal_ and nn.init.zeros_", {"linear_net": '''
def linear_net(num_inputs):
    layer = nn.Linear(num_inputs, 1)
    nn.init.normal_(layer.weight, mean=0.0, std=0.01)
    nn.init.zeros_(layer.bias)
    return nn.Sequential(layer)
'''}),
    Case("train_concise clearing with set_to_none=True after the step", {"train_concise": '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    net = linear_net(features.shape[1]).to(features.device)
    optimizer = torch.optim.SGD(net.parameters(), lr)
    mse = nn.MSELoss()
    loader = load_array((features, labels), batch_size, is_train=True)
    for _ in range(num_epochs):
        for X, y in loader:
            loss = mse(net(X), y.reshape(-1, 1))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return net
'''}),
    Case("train_concise written inline with F.mse_loss and net.zero_grad()", {"train_concise": '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    loader = data.DataLoader(data.TensorDataset(features, labels), batch_size=batch_size, shuffle=True)
    net = nn.Sequential(nn.Linear(features.shape[1], 1)).to(features.device)
    nn.init.normal_(net[0].weight, std=0.01)
    nn.init.zeros_(net[0].bias)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(num_epochs):
        for X, y in loader:
            net.zero_grad()
            torch.nn.functional.mse_loss(net(X), y).backward()
            trainer.step()
        print(f"epoch {epoch + 1} done")
    return net
'''}),
    Case("huber_loss through nn.HuberLoss", {"huber_loss": '''
def huber_loss(y_hat, y, delta=1.0):
    return nn.HuberLoss(delta=delta)(y_hat, y)
'''}),
    Case("weight_grad through torch.autograd.grad", {"weight_grad": '''
def weight_grad(net, X, y):
    loss = nn.MSELoss()(net(X), y)
    return torch.autograd.grad(loss, net[0].weight)[0]
'''}),
]

# Code that does nothing, or ignores its inputs: every one scores 0 at its part.
NOTHING = {
    "load_array": {
        "pass": "def load_array(data_arrays, batch_size, is_train=True):\n    pass\n",
        "returns None": "def load_array(data_arrays, batch_size, is_train=True):\n    return None\n",
        "zeros of the right shape": '''
def load_array(data_arrays, batch_size, is_train=True):
    zeros = [torch.zeros_like(a) for a in data_arrays]
    return data.DataLoader(data.TensorDataset(*zeros), batch_size, shuffle=is_train)
''',
        "returns an input unchanged":
            "def load_array(data_arrays, batch_size, is_train=True):\n    return data_arrays\n",
        "empty generator": "def load_array(data_arrays, batch_size, is_train=True):\n    return\n    yield\n",
        "one batch of everything": '''
def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, len(dataset), shuffle=is_train)
''',
    },
    "linear_net": {
        "pass": "def linear_net(num_inputs):\n    pass\n",
        "returns None": "def linear_net(num_inputs):\n    return None\n",
        "zeros of the right shape": "def linear_net(num_inputs):\n    return torch.zeros(1, num_inputs)\n",
        "returns an input unchanged": "def linear_net(num_inputs):\n    return num_inputs\n",
    },
    "train_concise": {
        "pass": "def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):\n    pass\n",
        "returns None": "def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):\n    return None\n",
        "an untrained net of the right shape": '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    return linear_net(features.shape[1]).to(features.device)
''',
        "returns an input unchanged":
            "def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):\n    return features\n",
    },
    "sum_reduction_lr": {
        "pass": "def sum_reduction_lr(lr, batch_size):\n    pass\n",
        "returns None": "def sum_reduction_lr(lr, batch_size):\n    return None\n",
        "zero": "def sum_reduction_lr(lr, batch_size):\n    return 0.0\n",
        "returns an input unchanged": "def sum_reduction_lr(lr, batch_size):\n    return lr\n",
    },
    "huber_loss": {
        "pass": "def huber_loss(y_hat, y, delta=1.0):\n    pass\n",
        "returns None": "def huber_loss(y_hat, y, delta=1.0):\n    return None\n",
        "zeros of the right shape": "def huber_loss(y_hat, y, delta=1.0):\n    return (y_hat * 0).mean()\n",
        "returns an input unchanged": "def huber_loss(y_hat, y, delta=1.0):\n    return y_hat\n",
    },
    "weight_grad": {
        "pass": "def weight_grad(net, X, y):\n    pass\n",
        "returns None": "def weight_grad(net, X, y):\n    return None\n",
        "zeros of the right shape": "def weight_grad(net, X, y):\n    return torch.zeros_like(net[0].weight)\n",
        "returns an input unchanged": "def weight_grad(net, X, y):\n    return X\n",
    },
}
NOTHING_CASES = [Case(f"do-nothing {function}: {kind}", {function: source}, {function: 0})
                 for function, kinds in NOTHING.items() for kind, source in kinds.items()]

CLOSURE_STEP = '''            def closure():
                trainer.zero_grad()
                l = loss(net(X), y)
                l.backward()
                return l
            trainer.step(closure)
'''

TRICKS = [
    Case("load_array with batch size 10 written in", load_array(("batch_size, shuffle", "10, shuffle")),
         {"load_array": 12}, "Pass batch_size on"),
    Case("load_array shuffles fixed blocks", {"load_array": '''
def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    blocks = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    sampler = data.SubsetRandomSampler(range(len(blocks))) if is_train else range(len(blocks))

    class Blocks(data.Sampler):
        def __iter__(self):
            return (blocks[i] for i in sampler)

        def __len__(self):
            return len(blocks)

    return data.DataLoader(dataset, batch_sampler=Blocks())
'''}, {"load_array": 17}, "same minibatches"),
    Case("linear_net starts from zero weights", linear_net(("normal_(0, 0.01)", "fill_(0)")),
         {"linear_net": 10}, "all zero"),
    Case("train_concise makes a new net and optimizer every epoch", {"train_concise": '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    data_iter = load_array((features, labels), batch_size)
    loss = nn.MSELoss()
    for epoch in range(num_epochs):
        net = linear_net(features.shape[1]).to(features.device)
        trainer = torch.optim.SGD(net.parameters(), lr=lr)
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
    return net
'''}, {"train_concise": 26}, "no net was trained across all the epochs"),
    Case("train_concise steps once per epoch, outside the minibatch loop",
         train((BOOK_STEP, "            trainer.zero_grad()\n            l.backward()\n"),
               ("        with torch.no_grad():\n", "        trainer.step()\n        with torch.no_grad():\n")),
         {"train_concise": 22}, "once per epoch"),
    Case("train_concise trains on the first minibatch only",
         train(("        for X, y in data_iter:\n", "        for _ in data_iter:\n"),
               ("    for epoch in range(num_epochs):\n",
                "    X, y = next(iter(data_iter))\n    for epoch in range(num_epochs):\n")),
         {"train_concise": 26}, "distinct examples"),
    Case("train_concise fits in closed form, no loss, optimizer or step", {"train_concise": '''
def train_concise(features, labels, batch_size=10, lr=0.03, num_epochs=3):
    net = linear_net(features.shape[1]).to(features.device)
    A = torch.cat([features, torch.ones(len(features), 1, device=features.device)], dim=1)
    solution = torch.linalg.lstsq(A, labels).solution
    with torch.no_grad():
        net[0].weight.copy_(solution[:-1].reshape(1, -1))
        net[0].bias.copy_(solution[-1])
    return net
'''}, {"train_concise": 0}, "earns no training points"),
    Case("train_concise trains, then overwrites the net with a closed-form fit",
         train(("    return net\n", '''    ones = torch.ones(len(features), 1, device=features.device)
    A = torch.cat([features, ones], dim=1)
    solution = torch.linalg.lstsq(A, labels).solution
    with torch.no_grad():
        net[0].weight.copy_(solution[:-1].reshape(1, -1))
        net[0].bias.copy_(solution[-1])
    return net
''')), {"train_concise": 26}, "closed-form fit"),
]
WRONG += NOTHING_CASES + TRICKS

RIGHT += [
    Case("train_concise stepping with trainer.step(closure)", train((BOOK_STEP, CLOSURE_STEP))),
    Case("train_concise with a new optimizer (same net) each epoch", train(
        ("    trainer = torch.optim.SGD(net.parameters(), lr=lr)\n    for epoch in range(num_epochs):\n",
         "    for epoch in range(num_epochs):\n        trainer = torch.optim.SGD(net.parameters(), lr=lr)\n"))),
]
