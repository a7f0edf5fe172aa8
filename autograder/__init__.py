"""Autograded exercise kit for the linear-regression chapter of Dive into Deep Learning."""
