"""``python tune/ended_from_git.py TRIALS_CSV [...]``: the ``ended`` column of a trials CSV written before it existed.

The order in which trials ended is what a study's best-so-far figure follows (``experiments study``). Searches since
2026-12-04 write it; for an older CSV this fills it from the file's git history, in place. The logic is in
``recbole_hybrid/tuning/backfill.py``.
"""

import sys

from recbole_hybrid.tuning.backfill import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
