"""The same name and version as probe-conflict, other content: a rebuild."""

VALUE = "rebuilt"
