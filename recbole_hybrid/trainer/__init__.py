"""Training: the trainer the runs use (``trainer``), the prefix-row loop (``fast``), sequence mode (``sequence``,
``positions``), the non-finite guard (``finite``).
"""
