"""HTTP API of the GRZ intake for the submitting hospitals (``/grz``)."""
