"""The data package's error, in a module of its own that every data module
can import (`memory` raises it, and `sources.base` imports `memory`)."""


class DataError(ValueError):
    """A dataset, split or file cannot be used."""
