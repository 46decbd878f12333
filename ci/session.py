"""The state a ci command runs with, built once by :func:`ci.cli.main`.

A command's handler gets a :class:`State` and passes it (or what it holds) to
the domain modules: the checkout, its ``pipeline.toml``, the archive and the
runner of subprocesses are found and read once per command, not by each
function that needs them. Tests build a state for a checkout of their own and
call a stage in process, with a runner of their choice.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ci import shell
from ci.archive import Archive
from ci.config import PipelineConfig, load_config
from ci.state import repo_root


@dataclass
class State:
    """What every command runs with.

    Parameters
    ----------
    root
        The git checkout the command works on (default: the one holding the
        working directory).
    options
        The parsed command line.
    runner
        What runs every subprocess (installed by :func:`ci.cli.main` for the
        command's duration, see :func:`ci.shell.using`).
    """

    root: Path = field(default_factory=repo_root)
    options: argparse.Namespace = field(default_factory=argparse.Namespace)
    runner: shell.Runner = field(default_factory=shell.Runner)

    @cached_property
    def config(self) -> PipelineConfig:
        """The checkout's ``pipeline.toml`` (or ``$CI_CONFIG``), read on first use."""
        return load_config(self.root)

    @cached_property
    def archive(self) -> Archive:
        """The archive the configuration names."""
        return Archive(self.config.archive.url, self.root)
