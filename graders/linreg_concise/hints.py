"""Section 3.3 reuses 3.2's tensors and shapes, and its students meet the same errors."""

from linreg_scratch.hints import HINTS

__all__ = ["HINTS"]
