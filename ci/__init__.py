"""The release pipeline of a setuptools-scm project, run as ``python -m ci <command>``.

Each stage is one command, idempotent and safe to re-run; state between stages
lives in the package index (devpi) and the archive, never in memory, so every
stage can run on a different CI agent. Nothing here names the project: it reads
the name and version from the built distribution.
"""
