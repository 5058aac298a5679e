"""The `@component` decorator: annotations -> spec, arguments -> node."""

import pytest

import components
from components import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model, ModelRun


@component
def Toy(
    examples: InputArtifact[Examples],
    model: OutputArtifact[Model],
    name: Parameter[str],
    steps: Parameter[int] = 3,
    rate: Parameter[float] = 0.5,
) -> None:
    """A toy component."""


def test_spec_reads_annotations():
    spec = Toy.SPEC
    assert spec.name == "Toy"
    assert spec.inputs == {"examples": Examples}
    assert spec.outputs == {"model": Model}
    assert spec.parameters == {"name": str, "steps": int, "rate": float}
    assert spec.defaults == {"steps": 3, "rate": 0.5}
    assert spec.beam_parameter is None
    assert Toy.__doc__ == "A toy component."


def test_project_components_specs():
    pretrain = components.Pretrain.SPEC
    assert pretrain.inputs == {"examples": Examples}
    assert pretrain.outputs == {"model": Model, "model_run": ModelRun}
    assert pretrain.parameters == {"config_json": str, "split": str}
    importer = components.ImageExampleGen.SPEC
    assert importer.inputs == {}
    assert importer.outputs == {"examples": Examples}
    assert importer.beam_parameter == "beam_pipeline"
    assert components.BulkEmbed.SPEC.beam_parameter == "beam_pipeline"
    evaluator = components.Evaluator.SPEC
    assert set(evaluator.inputs) == {"examples", "model", "baseline"}
    assert evaluator.defaults["baseline"] is None  # optional input
    assert evaluator.outputs == {
        "evaluation": components.ModelEvaluation,
        "blessing": components.ModelBlessing,
    }
    pusher = components.Pusher.SPEC
    assert pusher.inputs == {
        "model": Model,
        "blessing": components.ModelBlessing,
    }
    assert pusher.outputs == {"pushed_model": components.PushedModel}


def test_node_outputs_are_typed_channels():
    importer = components.ImageExampleGen(input_base="/data")
    channel = importer.outputs["examples"]
    assert channel.type is Examples
    assert channel.producer is importer
    node = Toy(examples=channel, name="a", rate=1)
    assert node.exec_properties == {"name": "a", "steps": 3, "rate": 1.0}
    assert node.inputs == {"examples": channel}
    assert node.with_id("Toy_2").id == "Toy_2"


def test_node_rejects_bad_arguments():
    channel = components.ImageExampleGen(input_base="/d").outputs["examples"]
    with pytest.raises(TypeError, match="missing arguments \\['name'\\]"):
        Toy(examples=channel)
    with pytest.raises(TypeError, match="unknown arguments \\['nmae'\\]"):
        Toy(examples=channel, name="a", nmae="b")
    with pytest.raises(TypeError, match="expects int"):
        Toy(examples=channel, name="a", steps="3")
    model = Toy(examples=channel, name="a").outputs["model"]
    with pytest.raises(TypeError, match="Channel of Examples"):
        Toy(examples=model, name="a")


def test_decorator_rejects_bad_annotations():
    with pytest.raises(TypeError, match="needs an InputArtifact"):

        @component
        def NoAnnotation(examples) -> None:
            pass

    with pytest.raises(TypeError, match="Parameter"):

        @component
        def ListParameter(values: Parameter[list]) -> None:
            pass

    with pytest.raises(TypeError, match="Artifact subclass"):

        @component
        def NotAnArtifact(examples: InputArtifact[str]) -> None:
            pass


def test_examples_check_splits():
    examples = Examples("/x", {"split_names": ["train"]})
    examples.check_splits("train")
    with pytest.raises(ValueError, match="no split\\(s\\) \\['test'\\]"):
        examples.check_splits("train", "test")
    assert examples.file_pattern("test") == "/x/Split-test/*.tfrecord"
