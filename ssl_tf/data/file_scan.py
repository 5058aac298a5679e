"""The scan of image files listed by path, in memory a few bytes a file.

`scan_files` (and `scan_table`, which the folder and manifest sources use)
checks every file once with `ssl_tf.data.scan`'s workers and cache. The
paths stay a `PathTable` and are made into strings a chunk at a time; each
file's result is a code into the few distinct results, so a million files
cost about 13 bytes each while scanning (a digest, a code and a flag),
not a string and a result each.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Sequence

import numpy as np

from ssl_tf.data import scan
from ssl_tf.data.images import DEFAULT_MAX_PIXELS, ScanReport
from ssl_tf.data.paths import PathTable

_DEFAULT = object()


def scan_files(
    paths: Sequence[str],
    max_workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
    cache_dir: str | None = _DEFAULT,
    chunk_size: int = scan.CHUNK_SIZE,
) -> ScanReport:
    """Scans image files in parallel processes, with a cache of results.

    Args:
        paths: image files (a list or a `PathTable`); unreadable ones are
            skipped, not raised.
        max_workers: worker processes (default `min(8, CPUs)`).
        max_pixels: see `inspect_image_bytes`.
        allow_conversion: see `inspect_image_bytes`.
        cache_dir: the cache directory; default
            `ssl_tf.data.scan.cache_directory()`, `None` for no cache.
        chunk_size: files per task of a worker.

    Returns:
        A `ScanReport` in the order of `paths` (its `good` a `PathTable`);
        skipped files are logged.
    """
    return scan_table(
        PathTable.from_paths(paths),
        max_workers,
        max_pixels,
        allow_conversion=allow_conversion,
        cache_dir=cache_dir,
        chunk_size=chunk_size,
    )[0]


def scan_table(
    table: PathTable,
    max_workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
    cache_dir: str | None = _DEFAULT,
    chunk_size: int = scan.CHUNK_SIZE,
    missing: str | None = None,
) -> tuple[ScanReport, np.ndarray]:
    """`scan_files` of a `PathTable`, and a bool mask of its usable files.

    Memory a file is a few numbers: the paths are read in chunks, each
    file's result is a code into the distinct results (most files share
    one), and a path listed twice is inspected once, found by its digest.

    Args:
        table: the files.
        missing: the reason of a file that does not exist (it is then
            not read); `None` reads it like any other ("unreadable").
        max_workers, max_pixels, allow_conversion, cache_dir, chunk_size:
            see `scan_files`.
    """
    if max_workers is None:
        max_workers = scan.default_workers()
    if cache_dir is _DEFAULT:
        cache_dir = scan.cache_directory()
    options = [max_pixels, allow_conversion]
    digests, absent = _digests(table)
    results = _Results()
    codes = np.full(len(table), -1, np.int32)
    if missing is not None:
        codes[absent] = results.code((None, missing, None))
    cache = scan.open_cache(cache_dir, table, options)
    if cache:
        _cached_codes(cache, digests, codes, results)
    todo, repeats = _unrepeated(digests, np.flatnonzero(codes < 0))
    found = scan._inspect_all(table, todo, max_workers, chunk_size, *options)
    for index, result in zip(todo, found, strict=True):
        codes[index] = results.code(result)
    if repeats is not None:
        listed, first, inverse = repeats
        codes[listed] = codes[listed[first]][inverse]
    if cache and len(todo):
        _store(cache, todo[digests[todo] != 0], digests, codes, results)
    return _table_report(table, codes, results.distinct)


class _Results:
    """Distinct `(kind, reason, size)` results, each with a code."""

    def __init__(self):
        self.distinct, self._codes = [], {}

    def code(self, result) -> int:
        result = tuple(result)
        if result not in self._codes:
            self._codes[result] = len(self.distinct)
            self.distinct.append(result)
        return self._codes[result]

    def plain(self) -> np.ndarray:
        """Whether each code is a usable plain file (`is_plain`)."""
        return np.array([scan.is_plain(r) for r in self.distinct], bool)


def _digests(table):
    """`(digests, absent)`: each file's `digest` (0: not a regular file,
    never cached) and whether it does not exist."""
    digests = np.zeros(len(table), np.uint64)
    absent = np.zeros(len(table), bool)
    low = 0
    for paths in table.chunks():
        for index, path in enumerate(paths, low):
            try:
                info = os.stat(path)
            except (OSError, ValueError):
                absent[index] = True
                continue
            if stat.S_ISREG(info.st_mode):
                key = [info.st_size, info.st_mtime_ns]
                digests[index] = scan.digest(path, key)
        low += len(paths)
    return digests, absent


def _cached_codes(cache, digests, codes, results):
    """Sets the `codes` of the files the cache knows."""
    known = digests != 0
    plain = cache.known_plain(digests) & known
    codes[plain] = results.code(cache.plain_result())
    if cache.entries:
        for index in np.flatnonzero(known & ~plain):
            found = cache.entries.get(int(digests[index]))
            if found is not None:
                codes[index] = results.code(found)


def _unrepeated(digests, todo):
    """`(rows, repeats)`: `todo` with each file listed again (a manifest
    may) left out, found by equal digests; `repeats` is `None`, or
    `(listed, first, inverse)` to copy the inspected results back with
    `codes[listed] = codes[listed[first]][inverse]`."""
    listed = todo[digests[todo] != 0]
    keys = np.sort(digests[listed])
    if not (keys[1:] == keys[:-1]).any():
        return todo, None
    _, first, inverse = np.unique(
        digests[listed], return_index=True, return_inverse=True
    )
    rows = np.union1d(todo[digests[todo] == 0], listed[first])
    return rows, (listed, first, inverse)


def _store(cache, rows, digests, codes, results):
    """Adds the inspected `rows` (regular files, each once) to `cache`."""
    plain = results.plain()[codes[rows]]
    shapes = np.unique(codes[rows[plain]])
    cache.store_digests(
        digests[rows[plain]],
        {int(digests[i]): results.distinct[codes[i]] for i in rows[~plain]},
        scan.max_shape([results.distinct[c][2] for c in shapes]),
    )


def _table_report(table, codes, distinct):
    """`(ScanReport, usable mask)` from each file's result code.

    Only the files that are not plain (skipped or converted, usually
    few) are named by their path.
    """
    plain = np.array([scan.is_plain(r) for r in distinct], bool)
    usable = np.array([r[1] is None for r in distinct], bool)
    odd = np.flatnonzero(~plain[codes]) if len(codes) else codes
    report = scan.report_of(table.take(odd), [distinct[c] for c in codes[odd]])
    kept = usable[codes] if len(codes) else np.zeros(0, bool)
    found = np.bincount(codes, minlength=len(distinct)) > 0
    sizes = [r[2] for r, n in zip(distinct, found & usable, strict=True) if n]
    return (
        dataclasses.replace(
            report, good=table.take(kept), max_shape=scan.max_shape(sizes)
        ),
        kept,
    )
