"""What a run is made of: one experiment (``runner``), the comparison grid (``experiments``), run progress from
files (``progress``), recommendation from a saved model (``recommend``), history caps added to saved runs (``caps``).
"""
