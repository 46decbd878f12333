"""``ci-release-demo --version``."""

import argparse

from ci_release_demo import __version__, greeting


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ci-release-demo")
    parser.add_argument("--version", action="version", version=__version__)
    parser.parse_args(argv)
    print(greeting())
    return 0
