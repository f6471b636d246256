"""The statuses a search writes in its trials CSV: read by the search (``tuning/report.py``), the ``ended`` backfill
(``tuning/backfill.py``) and the study report (``analysis/study.py``), the last two without importing Ray.
"""

#: ``status`` of a trial that ended (``ERROR``: after its ``max_failures`` restarts).
FINISHED = ("OK", "ERROR")
#: ``status`` of a trial in the CSV an interrupted search writes, one it continues on ``--resume``.
UNFINISHED = "UNFINISHED"
