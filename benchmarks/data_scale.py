"""Input path at scale: peak RSS, images/s and restart cost by dataset size.

    python benchmarks/data_scale.py [--sizes 10000 100000 1000000]
        [--sources tfrecord folder] [--data-dir DIR]

Generates synthetic datasets of small PNG images (a TFRecord of
`tf.train.Example`s and a folder of class subfolders) once per size under
`--data-dir` (default: the system temp dir; never committed), then measures
each (source, size) in its own process, so peak RSS is the row's own:

- **cold start**: from opening the source (listing, bad-file scan) to the
  first batch, with an empty scan cache (`SSL_TF_SCAN_CACHE` is a new
  temp dir per row);
- **fresh start**: the same for a second run (the scan cache warm);
- **resume at 90%**: a run restarted at 90% of its first epoch, from
  opening the source to the first batch after the resume point;
- **images/s**: steady-state batches after the first, decoded and resized
  (no augmentation: this isolates the part that grows with the dataset);
- **peak RSS**: the process's maximum resident set over all of the above;
- **load**: the 1-minute load average when the row ends (the times are
  only comparable at similar loads).

Generating the data uses one process per core; 1 M images take about
5 min (TFRecord) and 10 min (folder) on 2 shared cores.

Model building and checkpoint restore cost the same at every size and are
left out. Prints a Markdown table.
"""

import argparse
import functools
import gc
import io
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

# Measure the checkout this script belongs to, whatever is installed.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

CLASSES = 10
SHARDS = 64


# Noise images every example draws one of, so no example seeds its own
# generator (a per-index generator costs more than the PNG encoding).
_NOISE_POOL = 1009


@functools.cache
def _noise(size):
    rng = np.random.default_rng(0)
    return rng.integers(0, 64, (_NOISE_POOL, size, size, 3), dtype=np.uint8)


def _png(index, size):
    """A deterministic, incompressible-ish PNG for example `index`.

    A class-coloured base plus pooled noise, with the index's bytes in the
    first pixels so every image differs. PNG level 1: the bytes compress
    about as well as at the default level, twice as fast.
    """
    from PIL import Image

    image = _noise(size)[index % _NOISE_POOL] + np.uint8((index % CLASSES) * 25)
    image[0, :4, 0] = np.frombuffer(np.uint32(index).tobytes(), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _write_folder_chunk(args):
    root, start, stop, size = args
    for index in range(start, stop):
        path = os.path.join(
            root, f"class_{index % CLASSES}", f"{index:07d}.png"
        )
        with open(path, "wb") as f:
            f.write(_png(index, size))
    return stop - start


def _parallel(function, work):
    """`function` over `work` in one process per core; the results' sum."""
    # Spawned, not forked: the parent may already hold TensorFlow threads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(os.cpu_count()) as pool:
        return sum(pool.imap_unordered(function, work))


def make_folder(root, count, size):
    """`count` PNGs in `root/class_k/`; reused when already complete."""
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return root
    for k in range(CLASSES):
        os.makedirs(os.path.join(root, f"class_{k}"), exist_ok=True)
    chunk = 5000
    work = [
        (root, start, min(start + chunk, count), size)
        for start in range(0, count, chunk)
    ]
    written = _parallel(_write_folder_chunk, work)
    with open(marker, "w") as f:
        f.write(str(written))
    return root


def _write_shard(args):
    """Shard `shard` of SHARDS: examples `shard, shard + SHARDS, ...`."""
    root, shard, count, size = args
    import tensorflow as tf

    path = os.path.join(root, f"data-{shard:05d}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for index in range(shard, count, SHARDS):
            feature = {
                "image": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[_png(index, size)])
                ),
                "label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[index % CLASSES])
                ),
            }
            example = tf.train.Example(
                features=tf.train.Features(feature=feature)
            )
            writer.write(example.SerializeToString())
    return len(range(shard, count, SHARDS))


def make_tfrecord(root, count, size):
    """`count` Examples (`image`, `label`) in SHARDS files; reused.

    Each worker process encodes and writes whole shards.
    """
    pattern = os.path.join(root, "data-*.tfrecord")
    marker = os.path.join(root, ".complete")
    if os.path.exists(marker):
        return pattern
    os.makedirs(root, exist_ok=True)
    work = [(root, shard, count, size) for shard in range(SHARDS)]
    written = _parallel(_write_shard, work)
    with open(marker, "w") as f:
        f.write(str(written))
    return pattern


def measure(row):
    """One row, in this process: times and peak RSS as a dict."""
    import tensorflow as tf

    import ssl_tf

    config = ssl_tf.DataConfig(
        source=row["source"], name=row["name"], image_size=row["image_size"]
    )
    batch_size = row["batch_size"]
    out = {}
    for phase, fraction in (("cold", 0.0), ("fresh", 0.0), ("resume", 0.9)):
        start = time.perf_counter()
        source = ssl_tf.data.open_source(config, split="train")
        info = source.info
        steps = ssl_tf.data.steps_per_epoch(info.num_examples, batch_size)
        first = int(fraction * steps)
        dataset = ssl_tf.data.pretrain_dataset(
            source,
            config,
            batch_size=batch_size,
            seed=0,
            batches=(first, min(first + row["batches"] + 1, steps)),
            steps=steps,
        )
        iterator = iter(dataset)
        next(iterator)
        out[f"{phase}_s"] = time.perf_counter() - start
        if phase == "fresh":
            start, seen = time.perf_counter(), 0
            for batch in iterator:
                seen += int(tf.shape(batch["images"])[0])
            out["images_per_s"] = seen / (time.perf_counter() - start)
        out["examples"] = info.num_examples
        # Each phase stands for a new process (a restart): nothing of the
        # previous one may stay alive into the next, neither through a
        # name here (`info` holds the scan report, and so the paths) nor
        # as cyclic garbage (tf.data's traced functions) not yet collected.
        del iterator, dataset, source, info
        gc.collect()
    # The machine may be shared: the times are read next to its load.
    out["load"] = os.getloadavg()[0]
    out["peak_rss_mib"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return out


def _run_row(row, timeout):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--row",
        json.dumps(row),
    ]
    # A scan cache of the row's own: the cold start finds it empty.
    scans = tempfile.mkdtemp(prefix="ssl_tf_scans_")
    environment = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="2", SSL_TF_SCAN_CACHE=scans
    )
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return {"error": f"exit {done.returncode}: {' '.join(tail)[:120]}"}
    return json.loads(lines[-1])


def _table(rows):
    header = (
        "| source | images | cold start s | fresh start s | resume at 90% s "
        "| resume / fresh | images/s | peak RSS MiB | load |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (source, size), result in rows:
        if "error" in result:
            lines.append(f"| {source} | {size:,} | {result['error']} |||||||")
            continue
        lines.append(
            f"| {source} | {size:,} | {result['cold_s']:.1f} "
            f"| {result['fresh_s']:.1f} | {result['resume_s']:.1f} "
            f"| {result['resume_s'] / result['fresh_s']:.2f} "
            f"| {result['images_per_s']:,.0f} | {result['peak_rss_mib']:,.0f} "
            f"| {result.get('load', float('nan')):.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        default=["tfrecord", "folder"],
        choices=["tfrecord", "folder"],
    )
    parser.add_argument(
        "--data-dir",
        default=os.path.join(tempfile.gettempdir(), "ssl_tf_data_scale"),
    )
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(measure(json.loads(args.row))), flush=True)
        return
    makers = {"tfrecord": make_tfrecord, "folder": make_folder}
    rows = []
    for size in args.sizes:
        for source in args.sources:
            root = os.path.join(args.data_dir, f"{source}-{size}")
            started = time.perf_counter()
            name = makers[source](root, size, args.image_size)
            print(
                f"{source} {size:,}: data ready "
                f"({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            row = {
                "source": source,
                "name": name,
                "image_size": args.image_size,
                "batch_size": args.batch_size,
                "batches": args.batches,
            }
            rows.append(((source, size), _run_row(row, args.timeout)))
            print(_table(rows[-1:]).splitlines()[-1], file=sys.stderr)
    print(_table(rows))


if __name__ == "__main__":
    main()
