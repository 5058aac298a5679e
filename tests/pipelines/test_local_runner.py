"""`LocalDagRunner`: order, caching, resume, resolver, loud failures."""

import collections
import os
import subprocess
import sys

import fakes
import pytest
import tensorflow as tf

from components import InputArtifact, OutputArtifact, component
from components.types import Examples, Model, ModelBlessing
from pipelines import cache, metadata
from pipelines.local_runner import LocalDagRunner
from pipelines.metadata import MetadataStore
from pipelines.pipeline import Pipeline
from pipelines.resolver import LatestBlessedModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORDER = fakes.ORDER


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """(pipeline root, input file, calls log) with a fresh calls log."""
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.delenv("FAKE_CRASH", raising=False)
    input_file = tmp_path / "input.txt"
    input_file.write_text("hello")
    return str(tmp_path / "root"), str(input_file), calls


def _calls(calls):
    """Executor calls since the last look (and forgets them)."""
    names = calls.read_text().split() if calls.exists() else []
    calls.write_text("")
    return names


def _run(pipeline, **kwargs):
    runner = LocalDagRunner(progress=None, **kwargs)
    outputs = runner.run(pipeline)
    store = MetadataStore(pipeline.pipeline_root)
    executions = store.executions(runner.run_id)
    store.close()
    return outputs, executions


def _states(executions):
    return {e["component_id"]: e["state"] for e in executions}


def test_topological_order_ids_and_lineage(setup):
    root, input_file, calls = setup
    pipeline = fakes.make_pipeline(root, input_file)
    assert [n.id for n in pipeline.components] == ORDER  # listed shuffled
    outputs, executions = _run(pipeline)
    assert _calls(calls) == ORDER
    assert [e["component_id"] for e in executions] == ORDER
    assert [e["id"] for e in executions] == [1, 2, 3, 4]
    model = outputs["Train"]["model"]
    key = executions[1]["cache_key"]
    assert model.uri == os.path.join(root, "Train", "model", key[:12])
    assert (model.id, model.state, model.producer) == (2, "live", 2)
    with open(os.path.join(model.uri, "model.txt")) as handle:
        assert handle.read() == "HELLO x3"
    assert executions[1]["inputs"] == {"examples": 1}
    assert executions[1]["outputs"] == {"model": 2}
    assert executions[1]["parameters"] == {"steps": 3}
    assert executions[1]["code_version"] == cache.code_version()
    examples = outputs["Source"]["examples"]
    assert examples.properties["fingerprint"] == fakes.file_fingerprint(
        input_file
    )


def test_rerun_with_nothing_changed_executes_nothing(setup):
    root, input_file, calls = setup
    first, _ = _run(fakes.make_pipeline(root, input_file))
    _calls(calls)
    second, executions = _run(fakes.make_pipeline(root, input_file))
    assert _calls(calls) == []
    assert _states(executions) == dict.fromkeys(ORDER, "cached")
    for node in ORDER:
        for key, artifact in second[node].items():
            assert artifact.id == first[node][key].id
            assert artifact.uri == first[node][key].uri


def test_changed_parameter_reruns_that_node_and_downstream(setup):
    root, input_file, calls = setup
    first, _ = _run(fakes.make_pipeline(root, input_file, steps=3))
    _calls(calls)
    second, executions = _run(fakes.make_pipeline(root, input_file, steps=4))
    assert _calls(calls) == ["Train", "Judge", "Push"]
    assert _states(executions) == {
        "Source": "cached",
        "Train": "complete",
        "Judge": "complete",
        "Push": "complete",
    }
    assert second["Train"]["model"].uri != first["Train"]["model"].uri
    # A parameter of the last node re-runs only it.
    _run(fakes.make_pipeline(root, input_file, steps=4, score=0.9))
    assert _calls(calls) == ["Judge", "Push"]


def test_touched_input_reruns_everything_after_it(setup):
    root, input_file, calls = setup
    _run(fakes.make_pipeline(root, input_file))
    _calls(calls)
    with open(input_file, "a") as handle:
        handle.write("!")  # same path, new size and mtime
    outputs, executions = _run(fakes.make_pipeline(root, input_file))
    assert _calls(calls) == ORDER
    assert set(_states(executions).values()) == {"complete"}
    with open(os.path.join(outputs["Train"]["model"].uri, "model.txt")) as f:
        assert f.read() == "HELLO! x3"


def test_cache_key_reads_input_artifact_fingerprint(setup):
    node = fakes.Train(
        examples=fakes.Source(input_file="x").outputs["examples"]
    )
    keys = {
        cache.cache_key(node, {"examples": examples}, "v")
        for examples in (
            Examples("u", {"fingerprint": "a"}, id=1),
            Examples("u", {"fingerprint": "b"}, id=1),
            Examples("u", {"fingerprint": "a"}, id=2),
        )
    }
    assert len(keys) == 3
    same = Examples("other-uri", {"fingerprint": "a", "x": 1}, id=1)
    assert cache.cache_key(node, {"examples": same}, "v") in keys
    assert cache.cache_key(node, {"examples": same}, "v2") not in keys


def test_deleted_output_is_not_reused(setup):
    root, input_file, calls = setup
    first, _ = _run(fakes.make_pipeline(root, input_file))
    _calls(calls)
    os.remove(os.path.join(first["Push"]["pushed_model"].uri, "model.txt"))
    os.rmdir(first["Push"]["pushed_model"].uri)
    _, executions = _run(fakes.make_pipeline(root, input_file))
    assert _calls(calls) == ["Push"]
    assert _states(executions)["Push"] == "complete"


def test_failed_node_resumes_in_the_same_directory(setup, monkeypatch):
    root, input_file, calls = setup
    monkeypatch.setenv("FAKE_CRASH", "raise")
    with pytest.raises(RuntimeError, match="crash after step 1"):
        _run(fakes.make_pipeline(root, input_file))
    store = MetadataStore(root)
    failed = store.executions()[-1]
    assert (failed["component_id"], failed["state"]) == ("Train", "failed")
    assert failed["error"] == "RuntimeError: crash after step 1"
    model = store.artifact(failed["outputs"]["model"])
    assert model.state == "failed"
    assert store.runs()[-1]["state"] == "failed"
    store.close()
    monkeypatch.delenv("FAKE_CRASH")
    _calls(calls)
    outputs, executions = _run(fakes.make_pipeline(root, input_file))
    assert _calls(calls) == ["Train", "Judge", "Push"]
    assert _states(executions)["Source"] == "cached"
    assert outputs["Train"]["model"].uri == model.uri
    assert outputs["Train"]["model"].properties["resumed_from"] == 1


_KILLED_RUN = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
import fakes
from pipelines.local_runner import LocalDagRunner
LocalDagRunner(progress=None).run(fakes.make_pipeline({pipeline!r}, {data!r}))
"""


def test_killed_run_is_marked_failed_and_resumed(setup):
    root, input_file, calls = setup
    script = _KILLED_RUN.format(
        root=ROOT, here=HERE, pipeline=root, data=input_file
    )
    env = {**os.environ, "FAKE_CRASH": "kill"}
    process = subprocess.run([sys.executable, "-c", script], env=env)
    assert process.returncode == -9
    store = MetadataStore(root)
    (running,) = [e for e in store.executions() if e["state"] == "running"]
    assert running["component_id"] == "Train"
    store.close()
    _calls(calls)
    outputs, executions = _run(fakes.make_pipeline(root, input_file))
    assert _calls(calls) == ["Train", "Judge", "Push"]
    store = MetadataStore(root)
    stale = store.execution(running["id"])
    assert stale["state"] == "failed" and "is gone" in stale["error"]
    assert store.artifact(stale["outputs"]["model"]).state == "failed"
    assert [r["state"] for r in store.runs()] == ["failed", "complete"]
    store.close()
    model = outputs["Train"]["model"]
    assert model.uri.endswith(running["cache_key"][:12])
    assert model.properties["resumed_from"] == 1


def test_resolver_gives_newest_blessed_of_this_pipeline(setup):
    root, input_file, _ = setup
    outputs, _ = _run(fakes.make_pipeline(root, input_file, resolver=True))
    assert outputs["LatestBlessedModel"]["blessing"] is None
    first = outputs["Judge"]["blessing"]
    assert first.properties["baseline"] is None
    # A newer blessing that is not blessed, and one of another pipeline.
    _run(fakes.make_pipeline(root, input_file, steps=4, score=0.1))
    _run(fakes.make_pipeline(root, input_file, name="other", steps=5))
    outputs, executions = _run(
        fakes.make_pipeline(root, input_file, steps=6, resolver=True)
    )
    resolved = outputs["LatestBlessedModel"]["blessing"]
    assert (resolved.id, resolved.uri) == (first.id, first.uri)
    assert outputs["Judge"]["blessing"].properties["baseline"] == first.uri
    judge = [e for e in executions if e["component_id"] == "Judge"][0]
    assert judge["inputs"]["baseline"] == first.id


@component
def Forget(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
    """Writes nothing: the runner must refuse this."""


def test_refuses_missing_required_output(setup):
    root, input_file, _ = setup
    source = fakes.Source(input_file=input_file)
    forget = Forget(examples=source.outputs["examples"])
    with pytest.raises(RuntimeError, match="did not write its output 'model'"):
        _run(Pipeline("toy", root, [source, forget]))
    store = MetadataStore(root)
    last = store.executions()[-1]
    assert (last["component_id"], last["state"]) == ("Forget", "failed")
    assert "RuntimeError" in last["error"]


def test_pipeline_checks_wiring(setup):
    root, input_file, _ = setup
    source = fakes.Source(input_file=input_file)
    train = fakes.Train(examples=source.outputs["examples"])
    with pytest.raises(ValueError, match="not produced by a component"):
        Pipeline("toy", root, [train])
    with pytest.raises(ValueError, match="Duplicate component id"):
        Pipeline("toy", root, [source, fakes.Source(input_file="y")])
    # A cycle can only be made by rewiring by hand; it fails before a run.
    source.inputs["loop"] = train.outputs["model"]
    with pytest.raises(ValueError, match=r"cycle among \['Source', 'Train'\]"):
        Pipeline("toy", root, [source, train])
    assert not os.path.exists(root)


def test_progress_lines(setup):
    root, input_file, _ = setup
    lines = []
    LocalDagRunner(progress=lines.append).run(
        fakes.make_pipeline(root, input_file)
    )
    LocalDagRunner(progress=lines.append).run(
        fakes.make_pipeline(root, input_file)
    )
    fields = [line.split() for line in lines]
    assert [f[0] for f in fields] == ORDER * 2
    assert collections.Counter(f[3] for f in fields) == {"run": 4, "cached": 4}
    assert all(f[1] == "complete" and f[2].endswith("s") for f in fields)
    assert fields[1][4] == fields[5][4] and fields[1][4].startswith(root)


@component
def Remote(model: OutputArtifact[Model]):
    """Writes through tf.io.gfile only, as components must for gs:// roots."""
    with tf.io.gfile.GFile(model.uri + "/model.txt", "w") as handle:
        handle.write("remote")


def test_remote_root_through_gfile(tmp_path, monkeypatch):
    """A `ram://` root stands in for gs://: outputs via gfile, the store in
    the local cache named by the root's hash, the rerun cached."""
    monkeypatch.setenv("HOME", str(tmp_path))
    root = "ram://bucket/pipeline"
    outputs, executions = _run(Pipeline("remote", root, [Remote()]))
    uri = outputs["Remote"]["model"].uri
    assert uri.startswith(root + "/Remote/model/")
    assert tf.io.gfile.exists(uri + "/model.txt")
    assert not os.path.exists(os.path.join(root, "metadata.sqlite"))
    assert os.path.exists(metadata.store_path(root))
    assert metadata.store_path(root).startswith(str(tmp_path))
    _, executions = _run(Pipeline("remote", root, [Remote()]))
    assert _states(executions) == {"Remote": "cached"}


@component
def NeedsBlessing(
    blessing: InputArtifact[fakes.ModelBlessing], model: OutputArtifact[Model]
):
    """Its blessing input is required."""


def test_required_input_without_resolved_artifact_is_refused(setup):
    root, _, calls = setup
    latest = fakes.LatestBlessedModel()
    needs = NeedsBlessing(blessing=latest.outputs["blessing"])
    with pytest.raises(ValueError, match=r"NeedsBlessing.blessing is required"):
        _run(Pipeline("toy", root, [needs, latest]))
    store = MetadataStore(root)
    assert [e["component_id"] for e in store.executions()] == [
        "LatestBlessedModel"
    ]
    assert store.runs()[-1]["state"] == "failed"
    store.close()


def test_resolver_passes_over_the_candidates_own_blessing():
    own = ModelBlessing("/b2", {"blessed": True, "model_uri": "/m2"})
    older = ModelBlessing("/b1", {"blessed": True, "model_uri": "/m1"})
    refused = ModelBlessing("/b3", {"blessed": False, "model_uri": "/m3"})

    class Store:
        def artifacts(self, type_name, state, pipeline_name):
            assert (type_name, state) == ("ModelBlessing", "live")
            return [refused, own, older]  # newest first

    node = LatestBlessedModel()
    resolve = node.resolve
    assert resolve(Store(), "p", {"model": Model("/m2")})["blessing"] is older
    assert resolve(Store(), "p", {"model": Model("/m4")})["blessing"] is own
    assert resolve(Store(), "p")["blessing"] is own
