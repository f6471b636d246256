"""Train and evaluate one model, as RecBole's run_recbole.py does: ``python run.py --help``.

The same as ``recbole-hybrid run ...`` (the console script that ``pip install`` puts on the PATH).
"""

import sys

from recbole_hybrid.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
