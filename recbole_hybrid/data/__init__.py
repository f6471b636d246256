"""Data: atomic files (``atomic``), MovieLens-1M preparation and checks (``movielens``), length groups (``lengths``),
sequence-mode windows (``windows``), histories cut at test time (``history_caps``),
the list fields no model reads freed after the split (``lists``). No model class is imported here.
"""
