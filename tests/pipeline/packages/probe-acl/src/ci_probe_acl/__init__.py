"""A release the ci user tries to put on the QA-only stable index."""

VALUE = "acl"
