"""`python -m qa.eval`: `newsqa eval` with --store as its only store option."""

import sys

from .run import main

sys.exit(main())
