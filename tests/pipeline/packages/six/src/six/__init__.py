"""A private package named like a PyPI project (dependency confusion)."""

VALUE = "private"
