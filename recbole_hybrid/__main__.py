"""``python -m recbole_hybrid COMMAND ...`` is ``recbole-hybrid COMMAND ...``."""

import sys

from recbole_hybrid.cli.main import main

sys.exit(main())
