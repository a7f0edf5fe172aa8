"""Hidden suite of the concise assignment (d2l 3.3)."""
