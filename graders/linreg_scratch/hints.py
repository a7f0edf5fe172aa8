"""Known PyTorch errors of section 3.2's code, and what they usually mean there.

The grader adds the hint of the first pair whose text is in the student's error."""

HINTS = [
    ("leaf Variable that requires grad is being used in an in-place operation",
     "Update the parameters inside `with torch.no_grad():` so autograd does not track the step."),
    ("must match the size of tensor", "Shapes do not line up: `X * w` multiplies elementwise; "
     "use `torch.matmul(X, w)` (or `X @ w`) for the matrix product."),
    ("mat1 and mat2 shapes cannot be multiplied", "Check the shapes: X is (n, d) and w is (d, 1)."),
    ("unsupported operand type(s) for *: 'NoneType'", "A `.grad` was None: the loss is not "
     "connected to this tensor, or the gradient was read before `backward()`."),
]
