"""`PathTable`: many file paths in one byte buffer, strings made when read.

A million paths held as Python strings cost about 100 bytes each (the
`str` object and the list's pointer); held here they cost their bytes
relative to a common prefix (`class_3/0000123.png`: 19) plus 6 bytes of
offsets. The folder and manifest sources list, scan and index their files
through it, and the pipeline cuts each batch's paths from the same buffer
in the graph (`ssl_tf.data.sources.files`).
"""

from __future__ import annotations

import collections.abc
import os
import sys
from collections.abc import Iterable, Sequence

import numpy as np

# Paths decoded at a time when iterating.
CHUNK = 4096
_ENCODING = sys.getfilesystemencoding()
_ERRORS = sys.getfilesystemencodeerrors()


def common_prefix(paths: Iterable[str]) -> str:
    """The longest prefix of every path that ends with a separator ("").

    The common prefix of the first and the last path in string order is
    every path's: one pass, no list.
    """
    low = high = None
    for path in paths:
        if low is None or path < low:
            low = path
        if high is None or path > high:
            high = path
    if low is None:
        return ""
    shared = os.path.commonprefix([low, high])
    return shared[: shared.rfind(os.sep) + 1]


class PathTable(collections.abc.Sequence):
    """File paths as one byte buffer: `prefix + buffer[start:start + length]`.

    Each path is `os.fsencode`d without the common `prefix`; reading item
    i makes its string. Taking rows (`take`) shares the buffer.

    Args:
        prefix: the part every path starts with.
        blob: uint8 array, the paths' bytes after `prefix`.
        starts: integer array, where each path starts in `blob` (int32
            while `blob` is under 2 GiB: 4 bytes a path).
        lengths: integer array, each path's byte length (uint16 while
            every path is under 64 KiB: 2 bytes a path).
    """

    def __init__(self, prefix: str, blob, starts, lengths):
        self.prefix = prefix
        self.blob = np.asarray(blob, np.uint8)
        self.starts = np.asarray(starts)
        self.lengths = np.asarray(lengths)

    @classmethod
    def from_paths(cls, paths: Sequence[str]) -> PathTable:
        """The table of `paths` (in order), relative to their common prefix."""
        if isinstance(paths, PathTable):
            return paths
        builder = PathTableBuilder(common_prefix(paths))
        for start in range(0, len(paths), CHUNK):
            builder.add(paths[start : start + CHUNK])
        return builder.build()

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return self.take(np.arange(len(self))[position])
        if not -len(self) <= position < len(self):
            raise IndexError(f"path {position} of {len(self)}")
        return self.strings(position % len(self), position % len(self) + 1)[0]

    def strings(self, low: int, high: int) -> list[str]:
        """Paths `low..high-1` as strings."""
        data = memoryview(self.blob)
        prefix = self.prefix
        starts = self.starts[low:high].tolist()
        ends = (
            self.starts[low:high].astype(np.int64) + self.lengths[low:high]
        ).tolist()
        return [
            prefix + bytes(data[s:e]).decode(_ENCODING, _ERRORS)
            for s, e in zip(starts, ends, strict=True)
        ]

    def chunks(self, size: int | None = None):
        """The paths in order, as lists of up to `size` (`CHUNK`) strings."""
        size = size or CHUNK
        for low in range(0, len(self), size):
            yield self.strings(low, low + size)

    def __iter__(self):
        for chunk in self.chunks():
            yield from chunk

    def take(self, rows) -> PathTable:
        """The paths at `rows` (indices or a bool mask), sharing the buffer."""
        rows = np.asarray(rows)
        if rows.dtype == bool and rows.all() and len(rows) == len(self):
            return self
        return PathTable(
            self.prefix, self.blob, self.starts[rows], self.lengths[rows]
        )

    @property
    def nbytes(self) -> int:
        """The bytes the table holds (buffer and offsets)."""
        return self.blob.nbytes + self.starts.nbytes + self.lengths.nbytes

    def __eq__(self, other):
        if not isinstance(other, collections.abc.Sequence) or isinstance(
            other, (str, bytes)
        ):
            return NotImplemented
        return len(self) == len(other) and all(
            a == b for a, b in zip(self, other, strict=True)
        )

    def __hash__(self):
        return hash((self.prefix, len(self)))

    def __repr__(self):
        return f"PathTable({len(self)} paths under {self.prefix!r})"


class PathTableBuilder:
    """Builds a `PathTable` from parts of paths, in order.

    `encode` turns a part (e.g. one directory's files) into bytes and
    lengths; `extend` appends encoded parts, so parts can be encoded as
    they are found and appended in another order. Only the encoded parts
    are held, and one buffer is made at `build`.

    Args:
        prefix: the part every path starts with.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._parts = []

    def encode(self, paths: Iterable[str]) -> tuple[bytes, np.ndarray]:
        """`(bytes, lengths)` of `paths` without the prefix."""
        cut = len(self.prefix)
        encoded = []
        for path in paths:
            if not path.startswith(self.prefix):
                raise ValueError(
                    f"Path {path!r} does not start with {self.prefix!r}."
                )
            encoded.append(os.fsencode(path[cut:]))
        lengths = np.fromiter(map(len, encoded), np.int32, len(encoded))
        return b"".join(encoded), lengths

    def extend(self, part: tuple[bytes, np.ndarray]) -> None:
        """Appends an `encode`d part."""
        self._parts.append(part)

    def add(self, paths: Iterable[str]) -> None:
        """Appends `paths`."""
        self.extend(self.encode(paths))

    def build(self) -> PathTable:
        """The table of every path added, in order."""
        lengths = np.concatenate(
            [np.zeros(0, np.int32)] + [n for _, n in self._parts]
        )
        blob = np.frombuffer(b"".join(b for b, _ in self._parts), np.uint8)
        self._parts = []
        starts = np.cumsum(lengths, dtype=np.int64) - lengths
        return PathTable(
            self.prefix, blob, _narrow(starts), _narrow(lengths, np.uint16)
        )


def _narrow(values, small=np.int32):
    """`values` as `small` if every value fits, else as int64."""
    if not len(values) or values.max() <= np.iinfo(small).max:
        return values.astype(small)
    return values.astype(np.int64)
