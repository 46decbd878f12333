"""Allow ``python -m epicast``."""

import sys

from epicast.cli import main

sys.exit(main())
