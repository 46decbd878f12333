"""Allow ``python -m epicast``."""

import sys

from epicast.cli import main

if __name__ == "__main__":  # not when a worker process imports this module again
    sys.exit(main())
