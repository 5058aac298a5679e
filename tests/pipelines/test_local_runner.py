"""`LocalDagRunner`: order, artifact directories, metadata, loud failures."""

import json
import os

import pytest

from components import InputArtifact, OutputArtifact, Parameter, component
from components.types import Examples, Model
from pipelines.local_runner import METADATA_FILE, LocalDagRunner
from pipelines.pipeline import Pipeline


@component
def Produce(examples: OutputArtifact[Examples], text: Parameter[str]) -> None:
    with open(os.path.join(examples.uri, "data.txt"), "w") as handle:
        handle.write(text)
    examples.properties["split_names"] = ["train"]


@component
def Consume(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
    with open(os.path.join(examples.uri, "data.txt")) as source:
        text = source.read()
    with open(os.path.join(model.uri, "model.txt"), "w") as handle:
        handle.write(text.upper())


@component
def Forget(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
    """Writes nothing: the runner must refuse this."""


def _metadata(root):
    with open(os.path.join(root, METADATA_FILE)) as handle:
        return json.load(handle)


def test_runs_in_order_and_records_metadata(tmp_path):
    root = str(tmp_path)
    produce = Produce(text="hello")
    consume = Consume(examples=produce.outputs["examples"])
    outputs = LocalDagRunner().run(Pipeline("toy", root, [produce, consume]))
    model = outputs["Consume"]["model"]
    assert model.uri == os.path.join(root, "Consume", "model", "2")
    with open(os.path.join(model.uri, "model.txt")) as handle:
        assert handle.read() == "HELLO"
    executions = _metadata(root)["executions"]
    assert [(e["id"], e["component"], e["state"]) for e in executions] == [
        (1, "Produce", "complete"),
        (2, "Consume", "complete"),
    ]
    produced = executions[0]["outputs"]["examples"]
    assert produced["properties"] == {"split_names": ["train"]}
    assert executions[0]["exec_properties"] == {"text": "hello"}
    assert executions[1]["inputs"]["examples"]["uri"] == produced["uri"]

    # A second run gets new execution ids, so nothing is overwritten.
    outputs = LocalDagRunner().run(Pipeline("toy", root, [produce, consume]))
    assert outputs["Consume"]["model"].uri.endswith(os.path.join("model", "4"))
    assert len(_metadata(root)["executions"]) == 4


def test_refuses_missing_required_output(tmp_path):
    root = str(tmp_path)
    produce = Produce(text="x")
    forget = Forget(examples=produce.outputs["examples"])
    with pytest.raises(RuntimeError, match="did not write its output 'model'"):
        LocalDagRunner().run(Pipeline("toy", root, [produce, forget]))
    last = _metadata(root)["executions"][-1]
    assert last["component"] == "Forget"
    assert last["state"] == "failed"
    assert "RuntimeError" in last["error"]


def test_executor_error_is_recorded_and_raised(tmp_path):
    @component
    def Crash(model: OutputArtifact[Model]) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        LocalDagRunner().run(Pipeline("toy", str(tmp_path), [Crash()]))
    (execution,) = _metadata(str(tmp_path))["executions"]
    assert execution["state"] == "failed"
    assert execution["error"] == "ValueError: boom"


def test_pipeline_checks_wiring(tmp_path):
    produce = Produce(text="x")
    consume = Consume(examples=produce.outputs["examples"])
    with pytest.raises(ValueError, match="not produced earlier"):
        Pipeline("toy", str(tmp_path), [consume, produce])
    with pytest.raises(ValueError, match="Duplicate component id"):
        Pipeline("toy", str(tmp_path), [produce, Produce(text="y")])
