"""The benchmark driver's plan and table (no measuring: that is its job)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import bench  # noqa: E402
import peer  # noqa: E402


def test_plan_has_one_augment_row_per_method_and_a_row_per_precision():
    args = bench.parse_args(
        ["--sizes", "quick,full", "--methods", "simclr,moco"]
    )
    rows = bench.plan_rows(args)
    stages = [(r["size"], r["method"], r["stage"]) for r in rows]
    # augment once per method (encoder-free), step and fit per precision.
    assert stages.count(("quick", "simclr", "augment")) == 1
    assert stages.count(("full", "simclr", "augment")) == 0
    assert stages.count(("full", "moco", "fit")) == 2
    assert len(rows) == 2 * (1 + 2 + 2) + 2 * (2 + 2)
    full = [r for r in rows if r["size"] == "full"]
    assert all(r["overrides"]["encoder.width"] == "1.0" for r in full)


def test_variants_run_per_precision_unless_they_fix_it():
    args = bench.parse_args(
        ["--sizes", "quick", "--methods", "simclr", "--stages", "step"]
        + ["--variants", "--precisions", "none,bfloat16"]
    )
    variants = [
        (r["variant"], r["overrides"]["train.mixed_precision"])
        for r in bench.plan_rows(args)
        if r.get("variant")
    ]
    assert ("keras-bn", "none") in variants
    assert ("keras-bn", "bfloat16") in variants
    assert [v for v in variants if v[0] == "fpmath-bf16"] == [
        ("fpmath-bf16", "none")
    ]


def test_table_divides_by_the_matching_peer_row():
    row = {
        "method": "simclr",
        "size": "quick",
        "stage": "step",
        "precision": "bfloat16",
        "overrides": {},
        "views_per_s": 1500.0,
        "seconds_per_step": 512 / 1500.0,
        "peak_rss_mib": 1000.0,
        "gflops_per_s": 318.0,
        "ceiling_percent": 50.0,
    }
    peers = [
        {"method": "simclr", "size": "quick", "config": "fp32"},
        {"method": "simclr", "size": "quick", "config": "best"},
        {"method": "moco", "size": "quick", "config": "best"},
    ]
    for record, value in zip(peers, (500.0, 1000.0, 3000.0), strict=True):
        record.update(views_per_s=value, peak_rss_mib=1.0)
    report = {
        "cpu": {"model": "X", "cores": 2, "flags": ["avx2"], "missing": []},
        "ceiling_gflops": {"float32": 400.0, "bfloat16": 700.0},
        "ceilings": {"TensorFlow": {}, "torch (peer)": {}},
        "rows": [row],
        "peer": peers,
    }
    table = bench.markdown(report)
    assert "| 1500 | 341 | 1000 | 318 | 50 | 3.00 | 1.50 |" in table
    assert "best of TensorFlow and torch (peer)" in table
    assert list(peer.CONFIGS) == ["fp32", "best"]


def test_onednn_kernels_sums_exec_lines_per_implementation():
    import profile_step

    lines = [
        "onednn_verbose,v1,primitive,exec,cpu,convolution,"
        "jit_bf16:avx512_core_bf16,backward_weights,src_bf16,,alg,mb2,6.0",
        "onednn_verbose,v1,primitive,exec,cpu,convolution,"
        "jit_bf16:avx512_core_bf16,backward_weights,src_bf16,,alg,mb2,4.0",
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,"
        "jit_bf16:avx512_core_bf16,backward_weights,src_bf16,,alg,mb2,9.0",
        "onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src,,,3x1,1.0",
        "unrelated output",
    ]
    totals = profile_step.onednn_kernels(lines, steps=2)
    assert totals == {
        "convolution jit_bf16 backward_weights": 5.0,
        "gemm_api ": 0.5,
    }
