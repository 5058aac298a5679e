"""The bad-image scan of many items: parallel, chunked and cached.

`ssl_tf.data.file_scan.scan_files` checks image files with
`inspect_images` (PIL reads each header, then one `tf.data` pass decodes
each file once) before training, with this module's workers and cache:

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
from collections.abc import Iterable

import numpy as np

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
# 3: digests for plain files, and image sizes (`ScanCache`).
# 4: the plain files' digests in a binary file beside the JSON one.
_CACHE_VERSION = 4


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


def _inspect_all(table, rows, max_workers, chunk_size, *options):
    """Results for the paths at `rows` of `table`, in order.

    Worker processes inspect the chunks when there are over one; at most
    `2 * workers` chunks of paths are made (as strings) at a time, so
    memory does not grow with the number of files.
    """
    chunks = (
        (table.take(rows[i : i + chunk_size]).strings(0, chunk_size), *options)
        for i in range(0, len(rows), chunk_size)
    )
    workers = min(max_workers, -(-len(rows) // chunk_size))
    if len(rows) < MIN_PARALLEL_FILES:
        workers = 1
    for results in ordered_map(_inspect_chunk, chunks, workers):
        yield from results


def ordered_map(function, arguments, workers):
    """`function(*a)` for each tuple `a` of `arguments`, in order.

    With over one worker, in that many processes (started with `spawn`:
    TensorFlow cannot be forked), at most `2 * workers` tasks submitted at
    a time, so `arguments` may be a generator larger than memory; with
    one, in this process. `function` must be importable by name.
    """
    if workers <= 1:
        for args in arguments:
            yield function(*args)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context
    ) as pool:
        pending = collections.deque()
        for args in arguments:
            pending.append(pool.submit(function, *args))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def default_workers() -> int:
    """Worker processes of a scan: `min(MAX_WORKERS, CPUs)`."""
    return min(MAX_WORKERS, os.cpu_count() or 1)


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


# Digests looked up in the cache at a time (`ScanCache.known_plain`).
_LOOKUP_CHUNK = 1 << 16

# The `(kind, reason)` of a usable plain RGB file: most results, stored
# compactly (`ScanCache`).
PLAIN = ("", None)


def is_plain(result) -> bool:
    """Whether a `(kind, reason, size)` result is a usable plain file.

    Other results the cache holds (a TFRecord file's summary dict) never
    are.
    """
    return isinstance(result, (tuple, list)) and tuple(result[:2]) == PLAIN


def digest(path, key) -> int:
    """A 64-bit digest of (path, size, mtime): a cache entry's name."""
    text = f"{path}\0{key[0]}\0{key[1]}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest())


def _common_root(paths):
    """`os.path.commonpath` of the absolute `paths` ("" if none).

    The common directory of the first and the last path in string order
    is every path's: one pass, and no path split into its components
    (which costs ~450 bytes a path at once for a million of them).
    """
    low = high = None
    for path in paths:
        path = os.path.abspath(path)
        if low is None or path < low:
            low = path
        if high is None or path > high:
            high = path
    try:
        return os.path.commonpath([low, high])
    except (TypeError, ValueError):
        return ""


class ScanCache:
    """Scan results by (path, size, mtime), two files per dataset.

    Entries are named by `digest(path, key)`: a changed file has another
    name, so its old result is never found. Files whose result is `PLAIN`
    (nearly all) are kept as a sorted array of 8-byte digests, the others
    as a dict of digests to results: a million files take 8 MB, not the
    ~1 KB a file of a dict of paths; they are stored as raw little-endian
    uint64s beside the JSON file of the rest (`<name>.json`, `<name>.plain`),
    read and written without a text copy (which cost ~50 MB at a million
    files, measured). The plain files' sizes are kept as one
    bound, `plain_shape`, the largest height and width of every plain file
    stored: a cached plain file's result carries it as its size, so the
    report's `max_shape` bounds every image (never below the truth; a
    removed large file can only keep it high).

    Args:
        directory: the cache directory.
        paths: the files scanned; their common directory names the file.
        options: JSON-able scan options; other options, another file.
    """

    def __init__(self, directory, paths, options):
        name = json.dumps([_CACHE_VERSION, _common_root(paths), options])
        name_digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        self.path = os.path.join(directory, f"{name_digest}.json")
        self.plain_path = os.path.join(directory, f"{name_digest}.plain")
        self.entries, self.plain = {}, np.zeros(0, np.uint64)
        self.plain_shape = None
        try:
            with open(self.path) as handle:
                stored = json.load(handle)
            plain = np.fromfile(self.plain_path, "<u8")
            # Written before the JSON file: a crash between leaves counts
            # that disagree, read as no cache.
            if len(plain) != stored["plain_count"]:
                raise ValueError("plain digests do not match their count")
            shape = stored["plain_shape"]
            self.entries = {
                int(d): _result(r) for d, r in stored["entries"].items()
            }
            self.plain = plain.astype(np.uint64, copy=False)
            self.plain_shape = tuple(shape) if shape else None
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no cache yet, or a broken one: scan again

    def plain_result(self):
        """The result of a cached plain file: `PLAIN` with `plain_shape`."""
        return (*PLAIN, self.plain_shape)

    def known_plain(self, digests):
        """Whether each of `digests` (uint64 array) is a cached `PLAIN`."""
        known = np.zeros(len(digests), bool)
        if not len(self.plain):
            return known
        # In chunks: the positions take 8 bytes a digest.
        for low in range(0, len(digests), _LOOKUP_CHUNK):
            part = digests[low : low + _LOOKUP_CHUNK]
            where = np.searchsorted(self.plain, part)
            np.minimum(where, len(self.plain) - 1, out=where)
            known[low : low + _LOOKUP_CHUNK] = self.plain[where] == part
        return known

    def lookup(self, path, key):
        """The result stored for `path` if its key still matches, or None."""
        if key is None:
            return None
        name = digest(path, key)
        if name in self.entries:
            return self.entries[name]
        if self.known_plain(np.array([name], np.uint64))[0]:
            return self.plain_result()
        return None

    def store(self, results):
        """Adds `{path: (key, result)}` and writes the file."""
        named = {digest(p, key): r for p, (key, r) in results.items()}
        plain = [d for d, r in named.items() if is_plain(r)]
        odd = {d: r for d, r in named.items() if not is_plain(r)}
        shape = max_shape([r[2] for r in named.values() if is_plain(r)])
        self.store_digests(np.array(plain, np.uint64), odd, shape)

    def store_digests(self, plain, odd, plain_shape=None):
        """Adds the `PLAIN` digests `plain` (whose sizes `plain_shape`
        bounds) and `{digest: result}` `odd`, and writes the file."""
        self.entries.update(odd)
        self.plain = np.union1d(self.plain, plain)
        if plain_shape is not None:
            self.plain_shape = max_shape(
                [plain_shape, self.plain_shape or plain_shape]
            )
        stored = {
            "entries": {str(d): r for d, r in self.entries.items()},
            "plain_count": len(self.plain),
            "plain_shape": self.plain_shape,
        }
        # Atomic, digests first: a killed scan leaves the old cache, or
        # files whose counts disagree (no cache).
        plain = self.plain.astype("<u8", copy=False)
        atomic.write_with(self.plain_path, plain.tofile)
        atomic.write_text(self.path, json.dumps(stored))


def _result(stored):
    """A result as JSON stored it: a file's `[kind, reason, size]` becomes
    a tuple again; other results (a TFRecord file's summary) stay."""
    if not isinstance(stored, list):
        return stored
    kind, reason, size = stored
    return kind, reason, tuple(size) if size else None


def open_cache(cache_dir, paths, options) -> ScanCache | None:
    """The `ScanCache` of `paths` (`cache_dir` None: no cache)."""
    if not cache_dir or not paths:
        return None
    return ScanCache(cache_dir, paths, options)


def per_file_cached(files, options, compute_missing) -> list:
    """Each file's result, from the cache or computed, in `files` order.

    Args:
        files: the paths.
        options: what the results depend on (the cache's options).
        compute_missing: `{path: file key} -> {path: result}` for the files
            the cache lacks; called once, with all of them (it may
            parallelise). Results of files without a key (`file_key` gave
            None: unreadable metadata) are used but not stored.
    """
    cache = open_cache(cache_directory(), files, options)
    found, missing = {}, {}
    for path in files:
        key = file_key(path)
        found[path] = cache.lookup(path, key) if cache else None
        if found[path] is None:
            missing[path] = key
    fresh = compute_missing(missing) if missing else {}
    found.update(fresh)
    storable = {
        path: (missing[path], result)
        for path, result in fresh.items()
        if missing[path]
    }
    if cache and storable:
        cache.store(storable)
    return [found[path] for path in files]
