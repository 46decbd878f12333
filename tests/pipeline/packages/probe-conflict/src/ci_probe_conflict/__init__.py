"""A release that is uploaded once."""

VALUE = "first"
