"""A toy assignment (two tensor functions, scale and mean_abs) that proves the kit generic: it lives
in a course folder outside the package; its source is ``solutions/toy_scale/``."""
