"""`python -m app` is the `dqn-arcade` command."""

import sys

from app.cli import main

sys.exit(main())
