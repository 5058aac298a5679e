"""The main job: pretrain -> export -> linear probe and kNN vs random init
(and vs the `encoder.init_from` encoder a continued run starts from).

`ssl-tf demo --preset cifar10-quick` runs every step, resuming whatever an
earlier (interrupted) run already did, and prints one Markdown table.
"""

from __future__ import annotations

import dataclasses
import os
import time

from ssl_tf import config as config_lib
from ssl_tf import presets
from ssl_tf.evaluation import protocols, report
from ssl_tf.training import export_run, run

PROTOCOLS = ("linear", "knn")


def main(
    preset: str = "cifar10-quick",
    methods=("simclr",),
    overrides: dict | None = None,
    results_dir: str = "results",
    protocols_to_run=PROTOCOLS,
) -> str:
    """Runs the demo and returns the Markdown table it printed."""
    started = time.time()
    configs = []
    for method in methods:
        config = presets.get_preset(preset, method)
        config = config_lib.apply_overrides(config, overrides or {}).validate()
        configs.append(config)
    models = []
    for config in configs:
        print(f"== Pretraining {config.method} ({config.name})", flush=True)
        result = run.pretrain(config, verbose=2)
        models.append(result.export_dir)
    # The untrained encoder is the same for every method of a preset, so
    # it is exported once under the preset's own name.
    baseline = dataclasses.replace(
        configs[0],
        name=config_lib.apply_overrides(
            presets.get_preset(preset), overrides or {}
        ).name,
    )
    print("== Exporting the random-init baseline", flush=True)
    models.append(export_run.export_random_encoder(baseline))
    if baseline.encoder.init_from is not None:
        print("== Exporting the encoder.init_from baseline", flush=True)
        models.append(export_run.export_start_encoder(baseline))

    results = []
    os.makedirs(results_dir, exist_ok=True)
    for protocol in protocols_to_run:
        for path in models:
            output = report.result_path(results_dir, protocol, path)
            print(f"== {protocol}: {os.path.basename(output)}", flush=True)
            results.append(
                protocols.run(
                    protocol,
                    path,
                    baseline.data,
                    options={},
                    output_path=output,
                    reuse=True,
                )
            )
    table = report.markdown_table(results)
    minutes = (time.time() - started) / 60
    summary = f"{table}\n\n(total {minutes:.1f} min)"
    with open(os.path.join(results_dir, f"{preset}-summary.md"), "w") as handle:
        handle.write(summary + "\n")
    print(summary, flush=True)
    return summary
