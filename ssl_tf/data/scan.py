"""The bad-image scan of many items: parallel, chunked and cached.

`scan_files` checks image files with `inspect_images` (PIL reads each
header, then one `tf.data` pass decodes each file once) before training:

- **Parallel.** Files not yet known are split into chunks of `chunk_size`
  and inspected in worker processes (`concurrent.futures.ProcessPoolExecutor`
  with at most `max_workers`, default `min(8, CPUs)`; started with `spawn`,
  since TensorFlow cannot be forked). Under `MIN_PARALLEL_FILES` new files
  the scan runs in this process: starting workers costs seconds.
- **Cached.** Each result is stored under the file's (path, size,
  modification time) in a JSON file per dataset directory and scan options,
  in `$SSL_TF_SCAN_CACHE` (default `~/.cache/ssl_tf/scans`; `none` turns
  the cache off). A restart reads the results back and inspects only the
  files that are new or changed since.

A result is `(kind, reason, size)`: the `ScanReport` also carries the
largest height and width of the usable images (`max_shape`), from the
headers PIL reads anyway.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import stat
from collections.abc import Iterable, Sequence

from ssl_tf import atomic
from ssl_tf.data.images import (
    DEFAULT_MAX_PIXELS,
    PIL_CONVERSION_KINDS,
    ScanReport,
    inspect_images,
)

logger = logging.getLogger("ssl_tf.data")

SCAN_CACHE_ENV = "SSL_TF_SCAN_CACHE"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "ssl_tf", "scans")
MAX_WORKERS = 8
CHUNK_SIZE = 256
# Fewer new files are inspected in this process: starting a worker (which
# imports TensorFlow) costs seconds, more than ~1000 small images take.
MIN_PARALLEL_FILES = 1024
# Bump when `inspect_image_bytes` changes what it accepts or a result's
# form: the version names the cache file, so older files are not read.
# 2: results carry the image's `(height, width)`.
_CACHE_VERSION = 2


def report_of(ids, results) -> ScanReport:
    """The `ScanReport` of `(kind, reason, size)` results; logs every skip.

    `max_shape` is known only when every usable item's size is.
    """
    good, skipped, kinds, needs_conversion = [], [], [], []
    sizes = []
    for item_id, (kind, reason, size) in zip(ids, results, strict=True):
        if reason is not None:
            logger.warning("Skipping image %s: %s", item_id, reason)
            skipped.append((item_id, reason))
            continue
        good.append(item_id)
        sizes.append(size)
        if kind:
            kinds.append(kind)
        if kind in PIL_CONVERSION_KINDS:
            needs_conversion.append(item_id)
    return ScanReport(
        good=tuple(good),
        skipped=tuple(skipped),
        converted=tuple(sorted(collections.Counter(kinds).items())),
        needs_conversion=tuple(needs_conversion),
        max_shape=max_shape(sizes),
    )


def max_shape(sizes) -> tuple[int, int] | None:
    """`(largest height, largest width)` of `sizes`; None if one is None."""
    if not sizes or None in sizes:
        return None
    return tuple(int(max(side)) for side in zip(*sizes, strict=True))


def scan_bytes(
    items: Iterable[tuple[str, bytes]],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
) -> ScanReport:
    """Scans in-memory images, e.g. TFRecord features with ids `"path#i"`.

    Items are checked `CHUNK_SIZE` at a time, so `items` may be a
    generator over a dataset larger than memory.

    Args:
        items: `(id, encoded bytes)` pairs.
        max_pixels: see `inspect_image_bytes`.
        allow_conversion: see `inspect_image_bytes`.

    Returns:
        A `ScanReport` in input order; skipped items are also logged.
    """
    ids, results = [], []
    items = iter(items)
    while chunk := list(itertools.islice(items, CHUNK_SIZE)):
        ids.extend(item_id for item_id, _ in chunk)
        results.extend(
            inspect_images(
                [data for _, data in chunk],
                max_pixels,
                allow_conversion=allow_conversion,
            )
        )
    return report_of(ids, results)


def inspect_file(path, max_pixels=DEFAULT_MAX_PIXELS, allow_conversion=False):
    """`inspect_image_bytes` of the file at `path`; unreadable is a reason."""
    return _inspect_chunk([path], max_pixels, allow_conversion)[0][:2]


def _read(path):
    """The file's bytes, or the reason it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read(), None
    except OSError as error:
        return None, f"unreadable ({type(error).__name__}: {error})"


def _inspect_chunk(paths, max_pixels, allow_conversion):
    """`inspect_images` results for `paths`, read files inspected together."""
    read = [_read(path) for path in paths]
    readable = [i for i, (data, _) in enumerate(read) if data is not None]
    inspected = inspect_images(
        [read[i][0] for i in readable],
        max_pixels,
        allow_conversion=allow_conversion,
    )
    results = [(None, reason, None) for _, reason in read]
    for i, result in zip(readable, inspected, strict=True):
        results[i] = result
    return results


def _inspect_all(paths, max_workers, chunk_size, max_pixels, allow_conversion):
    """Results for `paths` in order; worker processes for over one chunk."""
    chunks = [
        paths[i : i + chunk_size] for i in range(0, len(paths), chunk_size)
    ]
    workers = min(max_workers, len(chunks))
    if workers <= 1 or len(paths) < MIN_PARALLEL_FILES:
        return _inspect_chunk(paths, max_pixels, allow_conversion)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context
    ) as pool:
        parts = pool.map(
            _inspect_chunk,
            chunks,
            itertools.repeat(max_pixels),
            itertools.repeat(allow_conversion),
        )
        return [result for part in parts for result in part]


def cache_directory() -> str | None:
    """The scan cache directory (`$SSL_TF_SCAN_CACHE`), or None if off."""
    value = os.environ.get(SCAN_CACHE_ENV)
    if value is None:
        return os.path.expanduser(DEFAULT_CACHE_DIR)
    if value.strip().lower() in ("", "none", "off"):
        return None
    return os.path.expanduser(value)


def file_key(path):
    """`[size, mtime_ns]` of a regular file, else None (never cached)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return [info.st_size, info.st_mtime_ns]


class ScanCache:
    """Scan results by (path, size, mtime), one JSON file per dataset.

    Args:
        directory: the cache directory.
        paths: the files scanned; their common directory names the file.
        options: JSON-able scan options; other options, another file.
    """

    def __init__(self, directory, paths, options):
        try:
            root = os.path.commonpath([os.path.abspath(p) for p in paths])
        except ValueError:
            root = ""
        name = json.dumps([_CACHE_VERSION, root, options])
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        self.path = os.path.join(directory, f"{digest}.json")
        self.entries = {}
        try:
            with open(self.path) as handle:
                self.entries = json.load(handle)
        except (OSError, ValueError):
            pass  # no cache yet, or a broken one: scan again

    def lookup(self, path, key):
        """The result stored for `path` if its key still matches, or None."""
        entry = self.entries.get(path)
        if key is None or entry is None or entry[:2] != key:
            return None
        return entry[2]

    def store(self, results):
        """Adds `{path: (key, result)}` and writes the file."""
        for path, (key, result) in results.items():
            self.entries[path] = [*key, result]
        # Atomic: a killed scan leaves the old cache.
        atomic.write_text(self.path, json.dumps(self.entries))


def open_cache(cache_dir, paths, options) -> ScanCache | None:
    """The `ScanCache` of `paths` (`cache_dir` None: no cache)."""
    if not cache_dir or not paths:
        return None
    return ScanCache(cache_dir, paths, options)


_DEFAULT = object()


def scan_files(
    paths: Sequence[str],
    max_workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
    cache_dir: str | None = _DEFAULT,
    chunk_size: int = CHUNK_SIZE,
) -> ScanReport:
    """Scans image files in parallel processes, with a cache of results.

    Args:
        paths: image files; unreadable ones are skipped, not raised.
        max_workers: worker processes (default `min(8, CPUs)`).
        max_pixels: see `inspect_image_bytes`.
        allow_conversion: see `inspect_image_bytes`.
        cache_dir: the cache directory; default `cache_directory()`,
            `None` for no cache.
        chunk_size: files per task of a worker.

    Returns:
        A `ScanReport` in the order of `paths`; skipped files are logged.
    """
    paths = list(paths)
    if max_workers is None:
        max_workers = min(MAX_WORKERS, os.cpu_count() or 1)
    if cache_dir is _DEFAULT:
        cache_dir = cache_directory()
    keys = {path: file_key(path) for path in dict.fromkeys(paths)}
    cache = open_cache(cache_dir, paths, [max_pixels, allow_conversion])
    results = {}
    for path, key in keys.items():
        found = cache.lookup(path, key) if cache else None
        if found is not None:
            kind, reason, size = found  # JSON made the size a list
            results[path] = (kind, reason, tuple(size) if size else None)
    todo = [path for path in keys if path not in results]
    fresh = _inspect_all(
        todo, max_workers, chunk_size, max_pixels, allow_conversion
    )
    results.update(zip(todo, fresh, strict=True))
    if cache and todo:
        cache.store({p: (keys[p], results[p]) for p in todo if keys[p]})
    return report_of(paths, [results[path] for path in paths])
