"""A release that travels unstable -> testing -> stable."""

VALUE = "release"
