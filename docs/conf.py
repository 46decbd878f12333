"""Sphinx configuration: MyST Markdown, built offline with warnings as errors."""

from importlib.metadata import version as _version

project = "epicast"
author = "epicast developers"
release = _version("epicast")
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
napoleon_numpy_docstring = True
html_theme = "alabaster"
