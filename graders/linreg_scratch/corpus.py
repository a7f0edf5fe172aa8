"""Corpus for the "from scratch" assignment: classic mistakes and differently-right answers.

Scores per part: synthetic_data 15, data_iter 20, linreg 15, squared_loss 15, sgd 20,
training 15. "training" runs the book's loop with the student's data_iter, linreg,
squared_loss and sgd, so a mistake that stops learning costs training points as well.
"""

from autograder.corpus import Case

SYNTHETIC = '''
def synthetic_data(w, b, num_examples):
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = {labels}
    {noise}
    return X, {ret}
'''


def synthetic(labels="torch.matmul(X, w) + b", noise="y += torch.normal(0, noise_std, y.shape)",
              ret="y.reshape((-1, 1))", features=None):
    src = SYNTHETIC.format(labels=labels, noise=noise, ret=ret)
    if features:
        src = src.replace("torch.normal(0, 1, (num_examples, len(w)))", features)
    return {"synthetic_data": src}


DATA_ITER = '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    {shuffle}
    for i in range({stop}):
        batch_indices = torch.tensor(indices[i: min({end}, num_examples)])
        yield features[batch_indices], labels[batch_indices]
'''


def data_iter(shuffle="random.shuffle(indices)", stop="0, num_examples, batch_size", end="i + batch_size"):
    return {"data_iter": DATA_ITER.format(shuffle=shuffle, stop=stop, end=end)}


def sgd(body):
    return {"sgd": "def sgd(params, lr, batch_size):\n" + body}


WRONG = [
    Case("labels returned as (n,)", synthetic(ret="y"), {"synthetic_data": 12}, "reshape((-1, 1))"),
    Case("noise missing", synthetic(noise="pass"), {"synthetic_data": 12}, "no noise was added"),
    Case("noise at the wrong scale", synthetic(noise="y += torch.normal(0, 0.1, y.shape)"),
         {"synthetic_data": 12}, "standard deviation"),
    Case("features uniform, not N(0, 1)",
         synthetic(features="torch.rand((num_examples, len(w)))"), {"synthetic_data": 12},
         "torch.rand"),
    Case("bias missing in the labels", synthetic(labels="torch.matmul(X, w)"),
         {"synthetic_data": 10}, "bias is missing"),
    Case("data_iter not shuffled", data_iter(shuffle="pass"), {"data_iter": 17}, "original order"),
    Case("data_iter: same order every epoch",
         data_iter(shuffle="random.Random(0).shuffle(indices)"), {"data_iter": 17},
         "same order"),
    Case("data_iter drops the last batch",
         data_iter(stop="0, num_examples - batch_size + 1, batch_size"), {"data_iter": 15},
         "do not drop it"),
    Case("data_iter pads the last batch", {"data_iter": '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch = indices[i: i + batch_size]
        batch += indices[: batch_size - len(batch)]  # pad with examples from the start
        batch_indices = torch.tensor(batch)
        yield features[batch_indices], labels[batch_indices]
'''}, {"data_iter": 15}, "repeated or padded"),
    Case("data_iter samples with replacement", {"data_iter": '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    for i in range(0, num_examples, batch_size):
        size = min(batch_size, num_examples - i)
        batch_indices = torch.randint(0, num_examples, (size,))
        yield features[batch_indices], labels[batch_indices]
'''}, {"data_iter": 10}, "with replacement"),
    Case("data_iter shuffles features and labels separately", {"data_iter": '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    rows, targets = list(range(num_examples)), list(range(num_examples))
    random.shuffle(rows)
    random.shuffle(targets)
    for i in range(0, num_examples, batch_size):
        yield (features[torch.tensor(rows[i: i + batch_size])],
               labels[torch.tensor(targets[i: i + batch_size])])
'''}, {"data_iter": 16, "training": 0}, "shuffle one list of indices"),
    Case("data_iter never stops", {"data_iter": '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    while True:
        batch_indices = torch.tensor(random.sample(range(num_examples), min(batch_size, num_examples)))
        yield features[batch_indices], labels[batch_indices]
'''}, {"data_iter": 0, "training": 0}, "one pass over the data must end"),
    Case("linreg multiplies elementwise", {"linreg": "def linreg(X, w, b):\n    return X * w + b\n"},
         {"linreg": 0, "training": 0}, "elementwise"),
    Case("linreg forgets the bias", {"linreg": "def linreg(X, w, b):\n    return torch.matmul(X, w)\n"},
         {"linreg": 3, "training": 0}, "without the bias"),
    Case("linreg cut from the autograd graph",
         {"linreg": "def linreg(X, w, b):\n    return (torch.matmul(X, w) + b).detach()\n"},
         {"linreg": 9, "training": 0}, "cut from the autograd graph"),
    Case("squared_loss without the reshape",
         {"squared_loss": "def squared_loss(y_hat, y):\n    return (y_hat - y) ** 2 / 2\n"},
         {"squared_loss": 10}, "broadcasts"),
    Case("squared_loss without the 1/2",
         {"squared_loss": "def squared_loss(y_hat, y):\n"
                          "    return (y_hat - y.reshape(y_hat.shape)) ** 2\n"},
         {"squared_loss": 5}, "1/2 is missing"),
    Case("squared_loss returns the mean",
         {"squared_loss": "def squared_loss(y_hat, y):\n"
                          "    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()\n"},
         {"squared_loss": 5, "training": 0}, "one loss per example"),
    Case("squared_loss is the absolute error",
         {"squared_loss": "def squared_loss(y_hat, y):\n"
                          "    return torch.abs(y_hat - y.reshape(y_hat.shape))\n"},
         {"squared_loss": 5}, "absolute error"),
    Case("sgd does not divide by batch_size", sgd('''
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad
            param.grad.zero_()
'''), {"sgd": 12}, "divide by batch_size"),
    Case("sgd never clears the gradients", sgd('''
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
'''), {"sgd": 16, "training": 0}, "zero_()"),
    Case("sgd rebinds the name instead of updating in place", sgd('''
    with torch.no_grad():
        for param in params:
            update = lr * param.grad / batch_size
            param.grad.zero_()
            param = param - update
'''), {"sgd": 0, "training": 0}, "rebinds a local name"),
    Case("sgd updates outside torch.no_grad()", sgd('''
    for param in params:
        param -= lr * param.grad / batch_size
        param.grad.zero_()
'''), {"sgd": 0, "training": 0}, "torch.no_grad()"),
    Case("sgd steps up the gradient", sgd('''
    with torch.no_grad():
        for param in params:
            param += lr * param.grad / batch_size
            param.grad.zero_()
'''), {"sgd": 12, "training": 0}, "up the gradient"),
    Case("sgd changes the dtype", sgd('''
    with torch.no_grad():
        for param in params:
            param.data = (param.data - lr * param.grad / batch_size).double()
            param.grad.zero_()
'''), {"sgd": 17, "training": 0}, "float64"),
    Case("sgd copies the set-up cell's true_w and true_b into the parameters", sgd('''
    with torch.no_grad():
        w, b = params[0], params[-1]
        if w.shape == (len(true_w), 1):
            w.copy_(true_w.reshape(-1, 1))
        b.fill_(true_b)
        for param in params:
            param.grad.zero_()
'''), {"sgd": 0, "training": 0}, "not along its gradient"),
    Case("sgd updates only the first parameter", sgd('''
    with torch.no_grad():
        params[0] -= lr * params[0].grad / batch_size
        for param in params:
            param.grad.zero_()
'''), {"sgd": 12, "training": 0}, "Only some parameters"),
]

RIGHT = [
    Case("randn features, column weights, scaled noise", {"synthetic_data": '''
def synthetic_data(w, b, num_examples):
    X = torch.randn(num_examples, len(w))
    y = X @ w.reshape(-1, 1) + b
    return X, y + noise_std * torch.randn(num_examples, 1)
'''}),
    Case("data_iter with torch.randperm", {"data_iter": '''
def data_iter(batch_size, features, labels):
    order = torch.randperm(len(features))
    for start in range(0, len(features), batch_size):
        idx = order[start: start + batch_size]
        yield features[idx], labels[idx]
'''}),
    Case("data_iter returning a list of batches", {"data_iter": '''
def data_iter(batch_size, features, labels):
    idx = list(range(len(features)))
    random.shuffle(idx)
    chunks = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    return [(features[c], labels[c]) for c in chunks]
'''}),
    Case("linreg with @", {"linreg": "def linreg(X, w, b):\n    return X @ w + b\n"}),
    Case("linreg as an elementwise product summed per row", {"linreg": '''
def linreg(X, w, b):
    return (X * w.reshape(-1)).sum(dim=1, keepdim=True) + b
'''}),
    Case("squared_loss with view and 0.5", {"squared_loss": '''
def squared_loss(y_hat, y):
    return 0.5 * (y_hat - y.view(-1, 1)) ** 2
'''}),
    Case("sgd with sub_ and grads set to None", sgd('''
    with torch.no_grad():
        for p in params:
            p.sub_(lr * p.grad / batch_size)
            p.grad = None
''')),
    Case("sgd through .data", sgd('''
    for param in params:
        param.data -= lr * param.grad.data / batch_size
        param.grad.data.zero_()
''')),
]

# Code that does nothing, or ignores its inputs: every one scores 0 at its part. A data_iter,
# linreg, squared_loss or sgd that does nothing cannot train either; synthetic_data is not
# used by the training checks (they make their own data).
NOTHING = {
    "synthetic_data": {
        "pass": "def synthetic_data(w, b, num_examples):\n    pass\n",
        "returns None": "def synthetic_data(w, b, num_examples):\n    return None\n",
        "zeros of the right shape": "def synthetic_data(w, b, num_examples):\n"
                                    "    return torch.zeros(num_examples, len(w)), torch.zeros(num_examples, 1)\n",
        "returns its inputs unchanged": "def synthetic_data(w, b, num_examples):\n    return w, b\n",
    },
    "data_iter": {
        "pass": "def data_iter(batch_size, features, labels):\n    pass\n",
        "returns None": "def data_iter(batch_size, features, labels):\n    return None\n",
        "zeros of the right shape": '''
def data_iter(batch_size, features, labels):
    for i in range(0, len(features), batch_size):
        size = min(batch_size, len(features) - i)
        yield torch.zeros(size, features.shape[1]), torch.zeros(size, 1)
''',
        "returns an input unchanged": "def data_iter(batch_size, features, labels):\n    return features\n",
        "empty generator": "def data_iter(batch_size, features, labels):\n    return\n    yield\n",
        "one batch of everything": "def data_iter(batch_size, features, labels):\n    yield features, labels\n",
    },
    "linreg": {
        "pass": "def linreg(X, w, b):\n    pass\n",
        "returns None": "def linreg(X, w, b):\n    return None\n",
        "zeros of the right shape": "def linreg(X, w, b):\n    return torch.zeros(len(X), 1)\n",
        "returns an input unchanged": "def linreg(X, w, b):\n    return X\n",
    },
    "squared_loss": {
        "pass": "def squared_loss(y_hat, y):\n    pass\n",
        "returns None": "def squared_loss(y_hat, y):\n    return None\n",
        "zeros of the right shape": "def squared_loss(y_hat, y):\n    return torch.zeros_like(y_hat)\n",
        "returns an input unchanged": "def squared_loss(y_hat, y):\n    return y_hat\n",
    },
    "sgd": {
        "pass": "def sgd(params, lr, batch_size):\n    pass\n",
        "returns None": "def sgd(params, lr, batch_size):\n    return None\n",
        "zeros of the right shape": '''
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param.zero_()
''',
        "returns an input unchanged": "def sgd(params, lr, batch_size):\n    return params\n",
    },
}
NOTHING_CASES = [
    Case(f"do-nothing {function}: {kind}", {function: source},
         {function: 0} if function == "synthetic_data" else {function: 0, "training": 0})
    for function, kinds in NOTHING.items() for kind, source in kinds.items()
]

DATA_ITER_BLOCKS = '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    blocks = [list(range(i, min(i + batch_size, num_examples))) for i in range(0, num_examples, batch_size)]
    {how}
    for block in blocks:
        batch_indices = torch.tensor(block)
        yield features[batch_indices], labels[batch_indices]
'''

# Constants written in, tricks and the findings of issue 10: each lands at its own part.
TRICKS = [
    Case("data_iter with batch size 10 written in", data_iter(stop="0, num_examples, 10", end="i + 10"),
         {"data_iter": 9}, "expected"),
    Case("data_iter shuffles only inside fixed blocks",
         {"data_iter": DATA_ITER_BLOCKS.format(how="for block in blocks:\n        random.shuffle(block)")},
         {"data_iter": 17}, "same minibatches"),
    Case("data_iter visits fixed blocks in a random order",
         {"data_iter": DATA_ITER_BLOCKS.format(how="random.shuffle(blocks)")},
         {"data_iter": 17}, "same minibatches"),
    Case("data_iter spreads the examples evenly (np.array_split)", {"data_iter": '''
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = torch.randperm(num_examples)
    for batch_indices in torch.tensor_split(indices, -(-num_examples // batch_size)):
        yield features[batch_indices], labels[batch_indices]
'''}, {"data_iter": 17}, "np.array_split"),
    Case("data_iter leaves out one example of every batch",
         data_iter(end="i + batch_size - 1"),
         {"data_iter": 9}, "never came"),
    Case("synthetic_data draws the noise with the variance", synthetic(
        noise="y += torch.normal(0, noise_std ** 2, y.shape)"), {"synthetic_data": 12}, "not the variance"),
    Case("synthetic_data adds (n,) noise to (n, 1) labels", synthetic(
        labels="torch.matmul(X, w.reshape(-1, 1)) + b + torch.normal(0, noise_std, (num_examples,))",
        noise="pass", ret="y"), {"synthetic_data": 4}, "broadcast to a matrix"),
    Case("linreg adds b.item()", {"linreg": "def linreg(X, w, b):\n    return torch.matmul(X, w) + b.item()\n"},
         {"linreg": 9, "training": 0}, "b.grad is None"),
    Case("sgd with lr 0.03 written in", sgd('''
    with torch.no_grad():
        for param in params:
            param -= 0.03 * param.grad / batch_size
            param.grad.zero_()
'''), {"sgd": 12}, "the notebook's, not the lr argument"),
    Case("sgd divides by 10, not batch_size", sgd('''
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / 10
            param.grad.zero_()
'''), {"sgd": 12}, "the notebook's batch size"),
    Case("sgd clears the gradient before the step", sgd('''
    with torch.no_grad():
        for param in params:
            param.grad.zero_()
            param -= lr * param.grad / batch_size
'''), {"sgd": 0, "training": 0}, "zeroed before the step"),
    Case("sgd divides only w's step by batch_size", sgd('''
    with torch.no_grad():
        w, b = params[0], params[-1]
        w -= lr * w.grad / batch_size
        b -= lr * b.grad
        for param in params:
            param.grad.zero_()
'''), {"sgd": 12}, "without / batch_size"),
    Case("data_iter solves least squares and sgd writes the answer into w and b", {"data_iter": '''
def data_iter(batch_size, features, labels):
    global answer
    A = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    answer = torch.linalg.lstsq(A, labels).solution.reshape(-1)
    indices = list(range(len(features)))
    random.shuffle(indices)
    for i in range(0, len(indices), batch_size):
        batch_indices = torch.tensor(indices[i: i + batch_size])
        yield features[batch_indices], labels[batch_indices]
''', "sgd": '''
def sgd(params, lr, batch_size):
    with torch.no_grad():
        w, b = params[0], params[-1]
        if w.numel() == len(answer) - 1:
            w.copy_(answer[:-1].reshape(w.shape))
            b.copy_(answer[-1:].reshape(b.shape))
        for param in params:
            param.grad.zero_()
'''}, {"sgd": 0, "training": 0}, "not a step"),
]
WRONG += NOTHING_CASES + TRICKS
