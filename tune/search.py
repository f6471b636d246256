"""``python tune/search.py ...``: Ray Tune search over a yaml space, the same as ``recbole-hybrid tune ...``.

The command's options are in ``recbole_hybrid/cli/tune.py``, the search in ``recbole_hybrid/tuning/``; this file
needs the package installed (``make install``), as every command does. See ``tune/README.md``.
"""

import sys

from recbole_hybrid.cli.tune import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
