"""``python -m hotline.cli``: the ``hotline`` command."""

import sys

from hotline.cli import main

if __name__ == "__main__":
    sys.exit(main())
