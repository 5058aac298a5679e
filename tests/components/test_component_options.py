"""`@component` options: optional inputs, input fingerprints, and a Beam
executor called on its own."""

import os

import apache_beam as beam

from components import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model


def _fingerprint(path: str) -> str:
    return f"size={os.path.getsize(path)}"


@component(input_fingerprint=_fingerprint)
def Read(
    model: OutputArtifact[Model],
    path: Parameter[str],
    copies: Parameter[int] = 1,
    baseline: InputArtifact[Examples] = None,
):
    """Takes an optional baseline."""


@component
def Count(
    model: OutputArtifact[Model],
    n: Parameter[int],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
):
    """Writes 0..n-1 with Beam, one line each."""
    with beam_pipeline as pipeline:
        _ = (
            pipeline
            | beam.Create(range(n))
            | beam.Map(str)
            | beam.io.WriteToText(
                os.path.join(model.uri, "numbers"), shard_name_template=""
            )
        )


def test_optional_input_and_input_fingerprint(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"12345")
    node = Read(path=str(path), copies=2)
    assert node.SPEC.inputs == {"baseline": Examples}
    assert node.SPEC.defaults == {"copies": 1, "baseline": None}
    assert node.inputs == {}
    # The fingerprint function gets only the parameters it names.
    assert node.input_fingerprint() == "size=5"
    path.write_bytes(b"123")
    assert node.input_fingerprint() == "size=3"
    assert Count(n=1).input_fingerprint() is None


def test_beam_executor_called_on_its_own(tmp_path):
    Count.EXECUTOR(model=Model(str(tmp_path)), n=3)
    with open(tmp_path / "numbers") as handle:
        assert sorted(handle.read().split()) == ["0", "1", "2"]
