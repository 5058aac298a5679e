"""A Pretrain that died after its checkpoint resumes it on the next run."""

import os
import shutil
import subprocess
import sys

import pytest

from components import testing
from pipelines.config import PipelineConfig, smoke_experiment
from pipelines.local_runner import LocalDagRunner
from pipelines.metadata import MetadataStore
from pipelines.pipeline import create_pipeline


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.large
def test_rerun_after_crash_resumes_pretrain_checkpoint(tmp_path, capfd):
    data, root = str(tmp_path / "images"), str(tmp_path / "root")
    testing.write_image_folder(data, {"train": 8, "test": 2}, size=20)
    config = PipelineConfig(
        experiment=smoke_experiment("simclr", "simclr-smoke"),
        evaluations={},
        num_shards=2,
    )
    pipeline = create_pipeline("resume", root, config, data)
    first = LocalDagRunner(progress=None).run(pipeline)
    # As if the process died after the last checkpoint, before the export:
    # the runner of that run is gone, its execution still `running`.
    model = first["Pretrain"]["model"]
    shutil.rmtree(model.uri)
    store = MetadataStore(root)
    with store.transaction() as db:
        db.execute("UPDATE executions SET state = 'running' WHERE id = 2")
        db.execute("UPDATE runs SET state = 'running', pid = ?", (_dead_pid(),))
    store.close()
    capfd.readouterr()

    second = LocalDagRunner(progress=None).run(
        create_pipeline("resume", root, config, data)
    )
    assert "Resuming from checkpoint" in capfd.readouterr().out
    store = MetadataStore(root)
    states = [(e["component_id"], e["state"]) for e in store.executions()]
    assert states == [
        ("ImageExampleGen", "complete"),
        ("Pretrain", "failed"),
        ("ImageExampleGen", "cached"),
        ("Pretrain", "complete"),
    ]
    store.close()
    for key in ("model", "model_run"):
        assert second["Pretrain"][key].uri == first["Pretrain"][key].uri
    assert os.listdir(model.uri)
