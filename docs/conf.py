"""Sphinx configuration: MyST Markdown, built offline with warnings as errors.

The file formats come from epicast's pydantic models (their JSON Schema, _ext/), the
command lines from their argparse parsers (sphinx-argparse), the Python API from
docstrings (autodoc, numpy style). Nothing is downloaded: no intersphinx.
"""

import sys
from importlib.metadata import version as _version
from pathlib import Path

HERE = Path(__file__).resolve().parent
# docs/reference/cli.md documents `python -m ci`, which lives beside docs/ in the checkout
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

project = "epicast"
author = "epicast developers"
release = _version("epicast")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "schema_reference",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
napoleon_numpy_docstring = True
html_theme = "alabaster"
html_title = f"epicast {release}"
