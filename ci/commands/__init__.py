"""The ci tool's commands: one module each, holding only ``register`` and its handlers.

``register(subparsers)`` adds the command's parser and sets ``handler``, a
function ``(state) -> int`` (:class:`ci.session.State`). The work is done by
the domain modules of :mod:`ci`; a command never imports another command.
"""
