"""Corpus of the toy assignment: mistakes it must catch at their part, and differently-right answers.

Scores per part: scale 6 (values 4, a new tensor of x's shape 2), mean_abs 4 (value 3, shape () 1).
A case replaces the answer cells it names (by grade id); the others keep the reference's code.
"""

from autograder.corpus import Case


def scale(body: str) -> dict[str, str]:
    return {"scale": "def scale(x, a):\n    " + body + "\n"}


def mean_abs(body: str) -> dict[str, str]:
    return {"mean_abs": "def mean_abs(x):\n    " + body + "\n"}


WRONG = [
    Case("scale with the notebook's a written in", scale("return 3.0 * x"), {"scale": 0}, "the notebook's a"),
    Case("scale adds a", scale("return x + a"), {"scale": 0}, "adds a"),
    Case("scale returns x unchanged", scale("return x"), {"scale": 0}, "unchanged"),
    Case("scale changes x in place", scale("x.mul_(a)\n    return x"), {"scale": 4}, "in-place"),
    Case("scale returns float64", scale("return (a * x).double()"), {"scale": 4}, "float64"),
    Case("mean_abs without the absolute value", mean_abs("return x.mean()"), {"mean_abs": 0},
         "absolute value is missing"),
    Case("mean_abs takes |mean|", mean_abs("return x.mean().abs()"), {"mean_abs": 0}, "absolute value of the mean"),
    Case("mean_abs divides by len(x)", mean_abs("return x.abs().sum() / len(x)"), {"mean_abs": 0}, "len(x)"),
    Case("mean_abs returns a Python float", mean_abs("return float(x.abs().mean())"), {"mean_abs": 3},
         "without .item()"),
    Case("mean_abs forgets to call abs", mean_abs("return x.abs.mean()"), {"mean_abs": 0}, "call it"),
]

RIGHT = [
    Case("scale with torch.mul", scale("return torch.mul(x, a)")),
    Case("scale on a clone, in place", scale("y = x.clone()\n    y *= a\n    return y")),
    Case("mean_abs with torch functions", mean_abs("return torch.mean(torch.abs(x))")),
    Case("mean_abs as a sum over numel", mean_abs("return x.abs().sum() / x.numel()")),
]
