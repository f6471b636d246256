"""Hyper-parameter search with Ray Tune (the ``tune`` extra): everything that imports Ray lives here.

- ``search``: the command line and the search itself (``main``, ``run_search``, ``--final_test``)
- ``space``: yaml search spaces and searchers that suggest valid configurations only; ``spaces/``: the shipped ones
- ``trial``: one trial inside a Ray worker (device, reports, checkpoints)
- ``report``: the trials CSV, the curves plot and the tuned property file, from Ray's ``ResultGrid``
- ``cluster``: starting or joining Ray, shipping the code to workers, per-node resource checks
- ``storage``: the storage path, a folder or a URI
- ``throughput``: trials per hour at 1, 2, 4 trials per GPU
- ``backfill``: the ``ended`` column of a trials CSV from before it, from the file's git history (no Ray import)

Imports run one way: ``search`` uses the others, ``report`` uses ``trial``, ``throughput`` uses ``search``; nothing
imports ``search`` but ``throughput``.
"""
