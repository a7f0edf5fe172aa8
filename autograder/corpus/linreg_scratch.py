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
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]
'''


def data_iter(shuffle="random.shuffle(indices)", stop="0, num_examples, batch_size"):
    return {"data_iter": DATA_ITER.format(shuffle=shuffle, stop=stop)}


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
'''), {"sgd": 7, "training": 0}, "rebinds a local name"),
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
'''), {"sgd": 12, "training": 0}, "expected"),
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
