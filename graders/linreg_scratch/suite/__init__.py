"""Hidden suite of the "from scratch" assignment (d2l 3.2)."""
