"""The smoke pipelines end to end on Beam's DirectRunner, through the CLI."""

import json
import os
import time

import numpy as np
import pytest

from components import testing
from pipelines import moco_image_folder, simclr_cifar10
from pipelines.config import PipelineConfig, smoke_experiment
from pipelines.local_runner import LocalDagRunner
from pipelines.metadata import MetadataStore
from pipelines.pipeline import create_pipeline
from ssl_tf import cli, export
from ssl_tf.config import DataConfig
from ssl_tf.evaluation import features

MOCO_FILE = moco_image_folder.__file__
JUDGED = ["ImageExampleGen", "Pretrain", "LatestBlessedModel", "Evaluator"]
ALL = [*JUDGED, "Pusher"]


def _executions(root):
    """Component id -> its last execution, with artifacts as dicts."""
    store = MetadataStore(root)
    executions = {}
    for execution in store.executions():
        for direction in ("inputs", "outputs"):
            execution[direction] = {
                key: store.artifact(artifact_id).to_dict()
                for key, artifact_id in execution[direction].items()
            }
        executions[execution["component_id"]] = execution
    store.close()
    return executions


def _reference_knn_top1(examples_uri, model_uri, k, temperature):
    """Weighted-kNN top-1 written out in NumPy on the exported encoder's
    features of the imported examples (seeded pipeline: a fixed value)."""
    encoder = export.load_encoder(model_uri)
    pattern = os.path.join(examples_uri, "Split-{split}", "*.tfrecord")
    data = DataConfig(source="tfrecord", name=pattern)
    train_x, train_y = features.extract_features(
        encoder, data, "train", use_cache=False
    )
    test_x, test_y = features.extract_features(
        encoder, data, "test", use_cache=False
    )
    train_x = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    test_x = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
    similarity = test_x @ train_x.T
    correct = 0
    for row, label in zip(similarity, test_y, strict=True):
        votes = np.zeros(int(train_y.max()) + 1)
        for index in np.argsort(-row, kind="stable")[:k]:
            votes[train_y[index]] += np.exp(row[index] / temperature)
        correct += int(np.argmax(votes) == label)
    return correct / len(test_y)


def _check_pipeline_outputs(root, expected_components):
    executions = _executions(root)
    assert sorted(executions) == sorted(expected_components)
    assert all(e["state"] == "complete" for e in executions.values())

    model_uri = executions["Pretrain"]["outputs"]["model"]["uri"]
    encoder = export.load_encoder(model_uri)
    embeddings = encoder.embed(np.zeros((2, 16, 16, 3), np.uint8))
    assert embeddings.shape[0] == 2 and np.all(np.isfinite(embeddings))

    run_uri = executions["Pretrain"]["outputs"]["model_run"]["uri"]
    logs = [f for _, _, files in os.walk(run_uri) for f in files]
    assert any(f.startswith("events.out.tfevents") for f in logs)

    evaluation = executions["Evaluator"]["outputs"]["evaluation"]
    with open(os.path.join(evaluation["uri"], "result.json")) as handle:
        result = json.load(handle)["results"]["knn"]
    assert result["protocol"] == "knn"
    assert result["split_sizes"] == {"train": 16, "test": 4}
    examples_uri = executions["ImageExampleGen"]["outputs"]["examples"]["uri"]
    assert result["metrics"]["top1"] == pytest.approx(
        _reference_knn_top1(
            examples_uri,
            model_uri,
            result["options"]["k"],
            result["options"]["temperature"],
        )
    )
    assert (
        evaluation["properties"]["metrics"]["knn_top1"]
        == (result["metrics"]["top1"])
    )
    assert executions["Evaluator"]["inputs"]["model"]["uri"] == model_uri
    blessing = executions["Evaluator"]["outputs"]["blessing"]["properties"]
    assert blessing["blessed"] is True  # no thresholds in the configs
    return executions


def _run_cli(data, root, saved, *beam_flags):
    return cli.main(
        [
            "pipeline",
            "run",
            MOCO_FILE,
            "--pipeline-root",
            root,
            f"data_root={data}",
            f"push_destination={saved}",
            "smoke=true",
            "--runner=DirectRunner",
            *beam_flags,
        ]
    )


def test_smoke_pipeline_via_cli_pushes_then_reruns_from_cache(tmp_path):
    data, root = str(tmp_path / "images"), str(tmp_path / "root")
    saved = str(tmp_path / "saved_models" / "moco")
    testing.write_image_folder(data, {"train": 8, "test": 2}, size=20)
    assert _run_cli(data, root, saved) == 0
    executions = _check_pipeline_outputs(root, ALL)
    examples = executions["ImageExampleGen"]["outputs"]["examples"][
        "properties"
    ]
    assert examples["num_examples"] == {"train": 16, "test": 4}
    assert examples["num_skipped"] == 2
    pushed = executions["Pusher"]["outputs"]["pushed_model"]["properties"]
    assert (pushed["pushed"], pushed["version"]) == (True, 1)
    assert sorted(os.listdir(saved)) == ["1"]
    assert os.path.isfile(os.path.join(saved, "1", "model_card.md"))
    model_uri = executions["Pretrain"]["outputs"]["model"]["uri"]
    probe = np.zeros((2, 16, 16, 3), np.uint8)
    np.testing.assert_allclose(
        export.load_encoder(os.path.join(saved, "1")).embed(probe),
        export.load_encoder(model_uri).embed(probe),
        rtol=1e-6,
    )
    # Nothing changed: every component comes from the cache, no new push.
    store = MetadataStore(root)
    before = len(store.executions())
    store.close()
    started = time.perf_counter()
    assert _run_cli(data, root, saved) == 0
    seconds = time.perf_counter() - started
    store = MetadataStore(root)
    rerun = store.executions()[before:]
    store.close()
    assert {e["state"] for e in rerun} <= {"cached", "resolved", "complete"}
    assert not [
        e
        for e in rerun
        if e["state"] == "complete"
        and e["component_id"] != "LatestBlessedModel"
    ]
    assert sorted(os.listdir(saved)) == ["1"]
    assert seconds < 30


def test_pipeline_files_build_their_pipelines(tmp_path):
    for pipeline in (
        simclr_cifar10.create_pipeline(str(tmp_path), smoke=True),
        simclr_cifar10.create_pipeline(str(tmp_path)),
        moco_image_folder.create_pipeline("/data", str(tmp_path), smoke=True),
        moco_image_folder.create_pipeline("/data", str(tmp_path)),
    ):
        assert [node.id for node in pipeline.components] == ALL
    quick = simclr_cifar10.create_pipeline(str(tmp_path))
    evaluator = quick.components[3]
    thresholds = json.loads(evaluator.exec_properties["thresholds_json"])
    assert thresholds["linear_top1"]["lower_bound"] == 0.45
    smoke = smoke_experiment("simclr", "s")
    assert (smoke.data.image_size, smoke.train.batch_size) == (16, 8)
    assert smoke.train.steps_per_epoch == 2
    with pytest.raises(ValueError, match="exactly one input"):
        create_pipeline("p", str(tmp_path), PipelineConfig(smoke), "/d", "c")


@pytest.mark.large
def test_pipeline_with_embed_on_two_beam_workers(tmp_path):
    data, root = str(tmp_path / "images"), str(tmp_path / "root")
    testing.write_image_folder(data, {"train": 8, "test": 2}, size=20)
    config = PipelineConfig(
        experiment=smoke_experiment("simclr", "simclr-smoke"),
        evaluations={"knn": {"k": 5}, "linear": {"max_iter": 20}},
        embed_splits=("train", "test"),
        num_shards=2,
        push_destination=str(tmp_path / "saved"),
    )
    beam_args = [
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    ]
    pipeline = create_pipeline(
        "smoke", root, config, data, beam_pipeline_args=beam_args
    )
    outputs = LocalDagRunner().run(pipeline)
    _check_pipeline_outputs(
        root,
        [
            "ImageExampleGen",
            "Pretrain",
            "LatestBlessedModel",
            "Evaluator",
            "Pusher",
            "BulkEmbed",
        ],
    )
    assert outputs["BulkEmbed"]["embeddings"].properties["split_names"] == [
        "train",
        "test",
    ]
