"""`python -m rmail` is the same command line as `bin/rmail`."""

import sys

from rmail.cli import main

sys.exit(main())
