"""Analysis of committed run records: no torch, no RecBole, no model class is imported here (tests/test_layout.py).
``runs`` (loading), ``tables`` (metrics and paired tests), ``stats``, ``plots``, ``report`` (pages), ``anchors``,
``ablation``.
"""
