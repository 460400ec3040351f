"""`python -m walkforward` is the `walkforward` command."""

import sys

from walkforward.cli import main

if __name__ == "__main__":
    sys.exit(main())
