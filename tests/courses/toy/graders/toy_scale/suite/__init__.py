"""Hidden suite of the toy assignment."""
