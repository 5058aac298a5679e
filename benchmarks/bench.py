"""ssl_tf throughput beside the PyTorch peer: one command, one table.

    python benchmarks/bench.py --peer                 # everything (~40 min)
    python benchmarks/bench.py --sizes quick --methods simclr --stages step
    python benchmarks/bench.py --variants --sizes quick --methods simclr \\
        --stages step                                 # the optimisation rows

For each method (SimCLR, MoCo, rotation), encoder (`quick`: the
cifar10-quick preset, ResNet-18/4 at batch 256 and 32 px; `full`: the same
with a full-width ResNet-18), stage and precision it measures views per
second (median step time after warm-up), peak RSS, the FLOP rate achieved
(analytic FLOPs per view, `hardware.step_flops`) and its share of this
CPU's measured matmul ceiling. Stages:

- `augment`: the tf.data pipeline alone (decode-free: uint8 arrays in);
- `step`: the compiled train step on one pre-made batch;
- `fit`: `run.pretrain` end to end (pipeline, step and callbacks).

Precisions are `none` (float32, what the presets' `auto` picks on a
CPU) and `bfloat16` (faster, lower scores here; README). Every row
runs in its own process (`measure.py`). With `--peer` the same
invocation runs the peer's step (`../shared/bench/peer`, fp32 and its
best configuration) for the matching SimCLR and MoCo rows, prints
ssl_tf / peer, and adds the peer's matmul ceiling to TensorFlow's.
`--repeat N` measures every row N times, interleaved, and reports
medians.

Prints a Markdown table and writes JSON (`--json`, default
`results/bench.json`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import hardware  # noqa: E402
import peer  # noqa: E402
from measure import (  # noqa: E402
    VARIANT_ENVIRONMENT,
    VARIANT_OVERRIDES,
    VARIANTS,
)

SIZES = {"quick": {}, "full": {"encoder.width": "1.0"}}
WIDTHS = {"quick": 0.25, "full": 1.0}
PEER_METHODS = ("simclr", "moco")


def _measure(row):
    output = subprocess.run(
        [
            sys.executable,
            os.path.join(os.path.dirname(__file__), "measure.py"),
            json.dumps(row),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **VARIANT_ENVIRONMENT.get(row.get("variant"), {})},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def plan_rows(args):
    """The rows to measure, in table order."""
    rows = []
    for size in args.sizes:
        for method in args.methods:
            base = {
                "method": method,
                "size": size,
                "warmup": args.warmup,
                "steps": args.steps if size == "quick" else args.full_steps,
            }
            overrides = {**SIZES[size], **args.overrides}
            for stage in args.stages:
                if stage == "augment":
                    # Independent of the encoder and its precision.
                    if size == args.sizes[0]:
                        rows.append(
                            {**base, "stage": stage, "overrides": overrides}
                        )
                    continue
                for name in args.precisions:
                    rows.append(
                        {
                            **base,
                            "stage": stage,
                            "overrides": {
                                **overrides,
                                "train.mixed_precision": name,
                            },
                        }
                    )
            if args.variants and "step" in args.stages:
                # Each variant on top of each precision; a variant that
                # sets its own precision (fpmath-bf16) runs once.
                for variant in VARIANTS:
                    names = args.precisions
                    if "train.mixed_precision" in VARIANT_OVERRIDES.get(
                        variant, {}
                    ):
                        names = names[:1]
                    for name in names:
                        rows.append(
                            {
                                **base,
                                "stage": "step",
                                "variant": variant,
                                "overrides": {
                                    **overrides,
                                    "train.mixed_precision": name,
                                },
                            }
                        )
    return rows


def _median_result(results):
    merged = dict(results[0])
    for key in ("views_per_s", "seconds_per_step", "peak_rss_mib"):
        merged[key] = statistics.median(r[key] for r in results)
    merged["repeats"] = [round(r["views_per_s"], 1) for r in results]
    return merged


def _peer_rows(args):
    rows = []
    for size in args.sizes:
        for method in PEER_METHODS:
            if method in args.methods:
                for config in peer.CONFIGS:
                    rows.append((method, size, config))
    return rows


def run_all(args):
    """Measures every planned row (and the peer's), then adds the FLOP rates."""
    cpu, ceilings = _hardware(args)
    # A row's share is of the best either framework reached on this CPU.
    ceiling = {
        dtype: max(value[dtype] for value in ceilings.values())
        for dtype in ("float32", "bfloat16")
    }
    rows = plan_rows(args)
    flops = _flops_per_view(rows)
    peer_rows = _peer_rows(args) if args.peer and peer.available() else []
    results, peers = _measure_alternating(args, rows, peer_rows)
    measured = [
        {**row, **_median_result(r)}
        for row, r in zip(rows, results, strict=True)
    ]
    for row in measured:
        per_view = flops[(row["method"], row["size"])]["train_step_per_view"]
        if row["stage"] != "augment":
            row["gflops_per_s"] = per_view * row["views_per_s"] / 1e9
            dtype = (
                "bfloat16" if row.get("precision") == "bfloat16" else "float32"
            )
            row["ceiling_percent"] = 100 * row["gflops_per_s"] / ceiling[dtype]
    return {
        "cpu": cpu,
        "ceiling_gflops": ceiling,
        "ceilings": ceilings,
        "flops": {f"{m}/{s}": v for (m, s), v in flops.items()},
        "rows": measured,
        "peer": [
            _median_peer(key, runs)
            for key, runs in zip(peer_rows, peers, strict=True)
        ],
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def _hardware(args):
    """The CPU's description and the matmul ceilings, printed as measured."""
    cpu = hardware.cpu_description()
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores", flush=True)
    print(f"  has: {' '.join(cpu['flags'])}", flush=True)
    print(f"  lacks: {' '.join(cpu['missing'])}", flush=True)
    ceilings = {"TensorFlow": hardware.run_child("ceiling")}
    if args.peer and peer.available():
        ceilings["torch (peer)"] = peer.ceiling()
    for name, value in ceilings.items():
        print(
            f"Matmul ceiling (4096^3, {name}, all cores): "
            f"{value['float32']:.0f} GFLOP/s float32, "
            f"{value['bfloat16']:.0f} GFLOP/s bfloat16",
            flush=True,
        )
    return cpu, ceilings


def _flops_per_view(rows):
    """(method, size) -> the counted FLOPs of one train step per view."""
    flops = {}
    for row in rows:
        key = (row["method"], row["size"])
        if key not in flops:
            flops[key] = hardware.run_child(
                "flops",
                json.dumps(
                    {"method": row["method"], "overrides": row["overrides"]}
                ),
            )
    return flops


def _measure_alternating(args, rows, peer_rows):
    """`args.repeat` passes over every row, ssl_tf's then the peer's.

    The two sides alternate within each pass, so drift of the shared
    machine hits both.
    """
    results = [[] for _ in rows]
    peers = [[] for _ in peer_rows]
    for repeat in range(args.repeat):
        for index, row in enumerate(rows):
            started = time.time()
            results[index].append(_measure(row))
            print(
                f"  [{repeat + 1}/{args.repeat}] {_label(row)}: "
                f"{results[index][-1]['views_per_s']:.0f} views/s "
                f"({time.time() - started:.0f} s)",
                flush=True,
            )
        for index, (method, size, config) in enumerate(peer_rows):
            record = peer.bench_step(method, WIDTHS[size], config)
            peers[index].append(record)
            print(
                f"  [{repeat + 1}/{args.repeat}] peer {method} {size} "
                f"{config}: {record['views_per_s']:.0f} views/s",
                flush=True,
            )
    return results, peers


def _median_peer(key, runs):
    method, size, config = key
    return {
        "method": method,
        "size": size,
        "config": config,
        "views_per_s": statistics.median(r["views_per_s"] for r in runs),
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
        "repeats": [r["views_per_s"] for r in runs],
        "command": runs[0]["command"],
    }


def _label(row):
    label = f"{row['size']} {row['method']} {row['stage']}"
    precision = row["overrides"].get("train.mixed_precision")
    if row.get("variant"):
        label += f" [{row['variant']}]"
    elif precision and row["stage"] != "augment":
        label += f" {precision}"
    return label


def _peer_lookup(report, method, size, config):
    for record in report["peer"]:
        if (record["method"], record["size"], record["config"]) == (
            method,
            size,
            config,
        ):
            return record["views_per_s"]
    return None


def markdown(report):
    """The report as Markdown: the CPU, the ceiling, rows, peer rows."""
    cpu, ceiling = report["cpu"], report["ceiling_gflops"]
    lines = [
        f"CPU: {cpu['model']}, {cpu['cores']} cores; has "
        f"{', '.join(cpu['flags'])}; lacks {', '.join(cpu['missing'])}.",
        "Matmul ceiling (2 threads, 4096^3, best of "
        f"{' and '.join(report.get('ceilings', {'TensorFlow': 0}))}): "
        f"{ceiling['float32']:.0f} GFLOP/s float32, "
        f"{ceiling['bfloat16']:.0f} GFLOP/s bfloat16.",
        "",
        "| encoder | method | stage | precision | views/s | ms/step "
        "| peak RSS MiB | GFLOP/s | % of ceiling | × peer fp32 | × peer best |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    encoders = {"quick": "ResNet-18/4", "full": "ResNet-18"}
    for row in report["rows"]:
        step = row["stage"] in ("step", "fit")
        ratios = []
        for config in peer.CONFIGS:
            value = _peer_lookup(report, row["method"], row["size"], config)
            ratios.append(
                f"{row['views_per_s'] / value:.2f}" if value and step else ""
            )
        precision = row.get("precision", "") if step else "–"
        if row.get("variant"):
            precision = f"{precision} [{row['variant']}]"
        lines.append(
            f"| {encoders[row['size']]} | {row['method']} | {row['stage']} "
            f"| {precision} | {row['views_per_s']:.0f} "
            f"| {1000 * row['seconds_per_step']:.0f} "
            f"| {row['peak_rss_mib']:.0f} "
            f"| {row.get('gflops_per_s', 0):.0f} "
            f"| {row.get('ceiling_percent', 0):.0f} "
            f"| {ratios[0]} | {ratios[1]} |".replace("| 0 | 0 |", "| – | – |")
        )
    if report["peer"]:
        lines += [
            "",
            "| peer (lightly) | method | config | views/s | peak RSS MiB |",
            "|---|---|---|---:|---:|",
        ]
        for record in report["peer"]:
            lines.append(
                f"| {encoders[record['size']]} | {record['method']} "
                f"| {record['config']} | {record['views_per_s']:.0f} "
                f"| {record['peak_rss_mib']:.0f} |"
            )
    variants = [row for row in report["rows"] if row.get("variant")]
    if variants:
        lines += ["", "Variants:"]
        lines += [f"- `{name}`: {text}" for name, text in VARIANTS.items()]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    listed = lambda text: text.split(",")  # noqa: E731
    parser.add_argument(
        "--methods", type=listed, default=["simclr", "moco", "rotation"]
    )
    parser.add_argument("--sizes", type=listed, default=["quick", "full"])
    parser.add_argument(
        "--stages", type=listed, default=["augment", "step", "fit"]
    )
    parser.add_argument(
        "--precisions", type=listed, default=["none", "bfloat16"]
    )
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--full-steps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", default="results/bench.json")
    parser.add_argument("overrides", nargs="*", help="config key=value")
    args = parser.parse_args(argv)
    args.overrides = dict(item.split("=", 1) for item in args.overrides)
    for size in args.sizes:
        if size not in SIZES:
            parser.error(
                f"--sizes: unknown {size!r}; choose from {list(SIZES)}"
            )
    return args


def main(argv=None):
    args = parse_args(argv)
    report = run_all(args)
    table = markdown(report)
    print("\n" + table)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)
    print(f"\nWrote {args.json}")


if __name__ == "__main__":
    main()
