"""The report's figures: each module draws one figure from `SweepData` and returns it."""
