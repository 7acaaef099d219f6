"""``python -m netlinkbgp``: the command line."""

import sys

from netlinkbgp.cli import main

if __name__ == "__main__":
    sys.exit(main())
