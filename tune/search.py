"""``python tune/search.py --help``: the Ray Tune search's command line, kept for old commands.

The search itself is ``recbole_hybrid/tuning/search.py`` (``python -m recbole_hybrid.tuning.search``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from recbole_hybrid.tuning.search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
