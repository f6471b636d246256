"""``python tune/search.py --help``: the Ray Tune search's command line, kept for old commands.

The search itself is ``recbole_hybrid/tuning/search.py`` (``recbole-hybrid tune``); this file needs the package
installed (``make install``), as every command does.
"""

import sys

from recbole_hybrid.tuning.search import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
