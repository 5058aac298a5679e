"""Experiment configs: `<experiment>.py` with `get_config(smoke=False)`."""
