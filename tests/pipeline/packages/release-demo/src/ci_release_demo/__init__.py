"""A tiny package released by the ci tool's end-to-end tests."""

from importlib.resources import files

from ci_release_demo._version import __version__

__all__ = ["__version__", "add", "greeting"]


def add(a: int, b: int) -> int:
    """Return ``a + b``."""
    return a + b


def greeting() -> str:
    """Return the bundled greeting (package data)."""
    return files(__name__).joinpath("greeting.txt").read_text(encoding="utf-8").strip()
