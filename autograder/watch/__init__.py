"""``autograder watch``: feedback from the hidden suites on each ``nbgrader submit``, before the deadline."""

from autograder.watch.run import WatchSummary, watch

__all__ = ["WatchSummary", "watch"]
