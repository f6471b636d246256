"""Train and evaluate one model, as RecBole's run_recbole.py does: ``python run.py --help``."""

import sys

from recbole_hybrid.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
