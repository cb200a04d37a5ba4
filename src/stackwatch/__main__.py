"""``python -m stackwatch``: the same as the ``stackwatch`` command."""

import sys

from stackwatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
