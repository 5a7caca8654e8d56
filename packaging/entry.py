"""The bundle's entry point: the same executable opens the window (no arguments) or runs the
command line (`mingjing ask ...`), exactly like the `mingjing` console script."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
