"""Tiny fake components for runner tests: text files instead of models.

Every executor call appends `<component id>` to the file named by the
`FAKE_CALLS` environment variable, so a test counts what really ran.
`FAKE_SLEEP` seconds slow every executor down.
`FAKE_CRASH=raise` or `=kill` makes `Train` fail after its first step
(a Python error, or SIGKILL of the whole process); the environment is not
part of the cache key, so the next run executes the same node.
"""

import os
import signal
import time

from components import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
    types,
)
from components.types import Examples, Model
from pipelines.pipeline import Pipeline
from pipelines.resolver import LatestBlessedModel, ModelBlessing

PushedModel = getattr(types, "PushedModel", None) or type(
    "PushedModel", (types.Artifact,), {"TYPE_NAME": "PushedModel"}
)


ORDER = ["Source", "Train", "Judge", "Push"]


def _called(name):
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    path = os.environ.get("FAKE_CALLS")
    if path:
        with open(path, "a") as handle:
            handle.write(name + "\n")


def _write(directory, name, text):
    with open(os.path.join(directory, name), "w") as handle:
        handle.write(text)


def _read(directory, name):
    with open(os.path.join(directory, name)) as handle:
        return handle.read()


def file_fingerprint(input_file: str) -> str:
    status = os.stat(input_file)
    return f"{status.st_size}:{status.st_mtime_ns}"


@component(input_fingerprint=file_fingerprint)
def Source(examples: OutputArtifact[Examples], input_file: Parameter[str]):
    _called("Source")
    with open(input_file) as handle:
        _write(examples.uri, "data.txt", handle.read())
    examples.properties.update(
        split_names=["train"], fingerprint=file_fingerprint(input_file)
    )


@component
def Train(
    examples: InputArtifact[Examples],
    model: OutputArtifact[Model],
    steps: Parameter[int] = 3,
):
    """Counts steps in `model/checkpoint`, resuming from what is there."""
    _called("Train")
    done = 0
    if os.path.exists(os.path.join(model.uri, "checkpoint")):
        done = int(_read(model.uri, "checkpoint"))
    model.properties["resumed_from"] = done
    for step in range(done, steps):
        _write(model.uri, "checkpoint", str(step + 1))
        crash = os.environ.get("FAKE_CRASH")
        if crash == "raise":
            raise RuntimeError(f"crash after step {step + 1}")
        if crash == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    text = _read(examples.uri, "data.txt")
    _write(model.uri, "model.txt", f"{text.upper()} x{steps}")


@component
def Judge(
    model: InputArtifact[Model],
    blessing: OutputArtifact[ModelBlessing],
    score: Parameter[float] = 1.0,
    baseline: InputArtifact[ModelBlessing] = None,
):
    """Blesses the model when `score >= 0.5`; notes the baseline's uri."""
    _called("Judge")
    blessed = score >= 0.5
    _write(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED", "")
    blessing.properties.update(
        blessed=blessed,
        model_uri=model.uri,
        baseline=None if baseline is None else baseline.uri,
    )


@component
def Push(
    model: InputArtifact[Model],
    blessing: InputArtifact[ModelBlessing],
    pushed_model: OutputArtifact[PushedModel],
):
    _called("Push")
    _write(pushed_model.uri, "model.txt", _read(model.uri, "model.txt"))
    pushed_model.properties.update(pushed=True, version=1)


def make_pipeline(
    root,
    input_file,
    name="toy",
    steps=3,
    score=1.0,
    resolver=False,
    beam_pipeline_args=None,
):
    """Source -> Train -> Judge (-> Push), listed in shuffled order."""
    source = Source(input_file=input_file)
    train = Train(examples=source.outputs["examples"], steps=steps)
    nodes = [train, source]
    baseline = {}
    if resolver:
        latest = LatestBlessedModel()
        baseline = {"baseline": latest.outputs["blessing"]}
        nodes.append(latest)
    judge = Judge(model=train.outputs["model"], score=score, **baseline)
    push = Push(
        model=train.outputs["model"], blessing=judge.outputs["blessing"]
    )
    return Pipeline(
        name, root, [push, *nodes, judge], list(beam_pipeline_args or [])
    )


def run_many(root, input_file, name, runs):
    """`runs` runs of one pipeline, one more Train step each (a process
    target for the concurrency test)."""
    from pipelines.local_runner import LocalDagRunner
    from pipelines.metadata import MetadataStore

    for steps in range(1, runs + 1):
        LocalDagRunner(progress=None).run(
            make_pipeline(root, input_file, name=name, steps=steps)
        )
    # Then many small transactions, to collide with the other process's.
    store = MetadataStore(root)
    for _ in range(50):
        store.end_run(store.start_run(f"{name}-burst"), "complete")
    store.close()
