"""Credentials of the devpi roles (root, ci, qa): from the environment, or derived locally.

Real CI passes every credential in environment variables, set from the CI
system's secret store::

    DEVPI_URL                                  the server (its presence means "real CI")
    DEVPI_CI_USER    DEVPI_CI_PASSWORD         uploads to unstable, pushes to testing
    DEVPI_QA_USER    DEVPI_QA_PASSWORD         pushes to stable
    DEVPI_ROOT_USER  DEVPI_ROOT_PASSWORD       only for ``ci devpi setup``

They are never read from files of the repository, never written anywhere, and
never printed or logged: :class:`Credentials` hides the password from ``repr``.

For the embedded local server (no ``DEVPI_URL``) nothing needs configuring and
nothing is stored: a role's password is derived as HMAC-SHA256 of the server's
own secret file (``--secretfile``, mode 0600 in the git-ignored state directory)
and the role name. Whoever can read that file can already forge the server's
login tokens, so the derived passwords grant nothing more. Variables that are
set still win over the derived values.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.errors import CIError

log = logging.getLogger(__name__)

ROLES = ("root", "ci", "qa")
"""The roles the pipeline knows; the local server names its users after them."""

URL_ENV = "DEVPI_URL"


@dataclass(frozen=True)
class Credentials:
    """A user name and password for one role.

    Parameters
    ----------
    role
        ``"root"``, ``"ci"`` or ``"qa"``.
    user
        The devpi user name.
    password
        The password; left out of ``repr`` so it cannot leak through logs.
    origin
        Where the values came from, for error messages (never the values).
    """

    role: str
    user: str
    password: str = field(repr=False)
    origin: str


def env_names(role: str) -> tuple[str, str]:
    """Return the names of the user and password variables of ``role``."""
    prefix = f"DEVPI_{role.upper()}"
    return f"{prefix}_USER", f"{prefix}_PASSWORD"


def from_environment(role: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Return the credentials of ``role`` from the environment, or ``None`` if unset.

    Raises
    ------
    CIError
        If only one of the two variables is set.
    """
    environ = os.environ if environ is None else environ
    user_var, password_var = env_names(role)
    user, password = environ.get(user_var), environ.get(password_var)
    if not user and not password:
        return None
    if not user or not password:
        missing = user_var if not user else password_var
        raise CIError(
            f"incomplete credentials for the {role} role: {missing} is not set",
            tip=f"set both {user_var} and {password_var}, or neither",
        )
    return Credentials(role, user, password, origin=f"{user_var}/{password_var}")


def derive(role: str, secret: bytes) -> Credentials:
    """Return the local credentials of ``role``: user = role, password = HMAC(secret, role)."""
    digest = hmac.new(secret, f"ci-devpi-role:{role}".encode(), hashlib.sha256).hexdigest()
    return Credentials(role, role, digest, origin="derived from the local server's secret file")


def resolve(
    role: str,
    *,
    secretfile: Path | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Return the credentials of ``role``: the environment first, then the local derivation.

    Parameters
    ----------
    role
        One of :data:`ROLES`.
    secretfile
        The local server's secret file, or ``None`` for a server given by ``DEVPI_URL``
        (whose credentials must come from the environment).
    environ
        The environment (default ``os.environ``).

    Raises
    ------
    CIError
        If the credentials are missing (remote server) or the secret file is unreadable.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}, expected one of {ROLES}")
    found = from_environment(role, environ)
    if found is not None:
        log.debug("credentials of the %s role from %s", role, found.origin)
        return found
    user_var, password_var = env_names(role)
    if secretfile is None:
        raise CIError(
            f"missing credentials for the {role} role: {user_var} and {password_var} are not set",
            tip=f"set them from the CI secret store (only {URL_ENV} is set), "
            f"or unset {URL_ENV} to use the local embedded server",
        )
    try:
        secret = secretfile.read_bytes()
    except OSError as exc:
        raise CIError(
            f"cannot read the local devpi secret file {secretfile}: {exc.strerror}",
            tip="start the local server with `python -m ci devpi start`",
        ) from exc
    return derive(role, secret)
