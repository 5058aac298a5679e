"""`Pusher`: only blessed models, increasing versions, atomic installs."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import ssl_tf
from components import Pusher, pusher
from components.types import Model, ModelBlessing, PushedModel
from ssl_tf.testing import tiny_encoder, tiny_images

REASON = (
    "blessed: no threshold failed (1 checked); knn_top1 = 0.75 >= 0.5: pass"
)
METRICS = {"knn_top1": 0.75, "linear_top1": 0.5}
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FINGERPRINT = {"num_files": 20, "total_bytes": 4096}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("model") / "export")
    ssl_tf.export_encoder(
        tiny_encoder(seed=3),
        directory,
        image_size=16,
        metadata={"method": "simclr", "config": {"name": "tiny-run"}},
    )
    return Model(directory, {"data_fingerprint": FINGERPRINT})


def _blessing(root, model, blessed=True, reason=REASON):
    uri = os.path.join(root, "blessing")
    os.makedirs(uri, exist_ok=True)
    name = "BLESSED" if blessed else "NOT_BLESSED"
    open(os.path.join(uri, name), "w").close()
    properties = {
        "blessed": blessed,
        "reason": reason,
        "metrics": METRICS,
        "model_uri": model.uri,
        "examples_uri": "/examples/7",
    }
    return ModelBlessing(uri, properties)


def _push(root, model, blessing, run, **parameters):
    pushed = PushedModel(os.path.join(root, "pushed", str(run)))
    os.makedirs(pushed.uri)
    Pusher.EXECUTOR(
        model=model, blessing=blessing, pushed_model=pushed, **parameters
    )
    with open(os.path.join(pushed.uri, "push.json")) as handle:
        assert json.load(handle) == pushed.properties
    return pushed


def _visible(destination):
    return sorted(n for n in os.listdir(destination) if not n.startswith("."))


def test_unblessed_model_is_not_pushed(tmp_path, model):
    destination = str(tmp_path / "serving")
    blessing = _blessing(str(tmp_path), model, False, "not blessed: low")
    pushed = _push(
        str(tmp_path), model, blessing, 1, push_destination=destination
    )
    assert pushed.properties["pushed"] is False
    assert pushed.properties["version"] is None
    assert pushed.properties["reason"] == "not blessed: low"
    assert not os.path.exists(destination)

    # A BLESSED property without the BLESSED file is not trusted either.
    forged = _blessing(str(tmp_path / "forged"), model, False)
    forged.properties["blessed"] = True
    pushed = _push(
        str(tmp_path), model, forged, 2, push_destination=destination
    )
    assert pushed.properties["pushed"] is False
    assert "no BLESSED file" in pushed.properties["reason"]
    assert not os.path.exists(destination)


def test_versions_increase_and_serve_the_model(tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default destination is relative
    blessing = _blessing(str(tmp_path), model)
    pushes = [
        _push(str(tmp_path), model, blessing, run, model_name="tiny")
        for run in range(3)
    ]
    destination = os.path.join("saved_models", "tiny")
    assert [p.properties["version"] for p in pushes] == [1, 2, 3]
    assert all(p.properties["destination"] == destination for p in pushes)
    assert _visible(destination) == ["1", "2", "3"]
    # Staging directories are gone, and they never count as versions.
    assert sorted(os.listdir(destination)) == _visible(destination)
    os.makedirs(os.path.join(destination, ".staging-old"))
    os.makedirs(os.path.join(destination, "10"))
    os.makedirs(os.path.join(destination, "notes"))
    assert _push(str(tmp_path), model, blessing, 4, model_name="tiny")
    assert pusher.versions(destination) == [1, 2, 3, 10, 11]

    # Version 3 is a complete SavedModel giving the model's embeddings.
    images = tiny_images(3, 20, seed=1)
    served = tf.saved_model.load(os.path.join(destination, "3"))
    got = served.signatures["serving_default"](images=tf.constant(images))
    expected = ssl_tf.load_encoder(model.uri).embed(images)
    np.testing.assert_allclose(got["embedding"], expected, atol=1e-6)
    assert set(served.signatures) == {"serving_default", "serving_bytes"}


def test_model_card(tmp_path, model):
    destination = str(tmp_path / "serving")
    pushed = _push(
        str(tmp_path),
        model,
        _blessing(str(tmp_path), model),
        1,
        push_destination=destination,
    )
    assert pushed.properties["version_uri"] == os.path.join(destination, "1")
    with open(os.path.join(destination, "1", "model_card.md")) as handle:
        card = handle.read()
    metadata = ssl_tf.read_metadata(model.uri)
    for expected in (
        "- Method: simclr",
        f"- Encoder fingerprint: {metadata['fingerprint']}",
        "- Image size: 16, embedding size: 4",
        f"- Model artifact: {model.uri}",
        "- Evaluated on: /examples/7",
        '"num_files": 20',
        '"total_bytes": 4096',
        "| knn_top1 | 0.7500 |",
        "| linear_top1 | 0.5000 |",
        "- blessed: no threshold failed (1 checked)",
        "- knn_top1 = 0.75 >= 0.5: pass",
        '"name": "tiny-run"',
        "`serving_bytes`",
    ):
        assert expected in card, expected


def test_failed_rename_leaves_no_version(tmp_path, model, monkeypatch):
    destination = str(tmp_path / "serving")
    blessing = _blessing(str(tmp_path), model)

    def failing_rename(*args, **kwargs):
        raise tf.errors.UnavailableError(None, None, "disk went away")

    monkeypatch.setattr(tf.io.gfile, "rename", failing_rename)
    with pytest.raises(tf.errors.UnavailableError, match="disk went away"):
        _push(str(tmp_path), model, blessing, 1, push_destination=destination)
    assert os.listdir(destination) == []  # staging removed, no version
    monkeypatch.undo()
    pushed = _push(
        str(tmp_path), model, blessing, 2, push_destination=destination
    )
    assert pushed.properties["version"] == 1


# Runs a push in a new process and kills it (SIGKILL: no cleanup at all)
# where the staged version would be renamed into place.
KILLED_PUSH = textwrap.dedent(
    """
    import os, signal, sys
    import tensorflow as tf
    from components import Pusher
    from components.types import Model, ModelBlessing, PushedModel

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    tf.io.gfile.rename = die
    model, blessing, pushed, destination = sys.argv[1:]
    blessing = ModelBlessing(
        blessing, {"blessed": True, "reason": "ok", "model_uri": model}
    )
    Pusher.EXECUTOR(
        model=Model(model),
        blessing=blessing,
        pushed_model=PushedModel(pushed),
        push_destination=destination,
    )
    """
)


def test_killed_push_leaves_no_visible_version(tmp_path, model):
    destination = str(tmp_path / "serving")
    blessing = _blessing(str(tmp_path), model)
    _push(str(tmp_path), model, blessing, 1, push_destination=destination)
    os.makedirs(tmp_path / "killed")
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_PUSH,
            model.uri,
            blessing.uri,
            str(tmp_path / "killed"),
            destination,
        ],
        env={
            **os.environ,
            "PYTHONPATH": ROOT,
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
        capture_output=True,
    )
    assert process.returncode == -9, process.stderr.decode()[-2000:]
    # The killed push got as far as a complete, hidden staging directory.
    (staging,) = [n for n in os.listdir(destination) if n.startswith(".")]
    assert os.path.exists(os.path.join(destination, staging, "saved_model.pb"))
    assert _visible(destination) == ["1"]
    pushed = _push(
        str(tmp_path), model, blessing, 2, push_destination=destination
    )
    assert pushed.properties["version"] == 2
    assert _visible(destination) == ["1", "2"]


def test_rejects_bad_inputs(tmp_path, model):
    blessing = _blessing(str(tmp_path), model)
    with pytest.raises(ValueError, match="model_name"):
        _push(str(tmp_path), model, blessing, 1, model_name="a/b")
    other = _blessing(str(tmp_path / "other"), Model("/elsewhere"))
    with pytest.raises(ValueError, match="judged /elsewhere"):
        _push(str(tmp_path), model, other, 2, model_name="x")


def test_staged_copy_that_disagrees_is_not_installed(
    tmp_path, model, monkeypatch
):
    other = ssl_tf.export_encoder(
        tiny_encoder(seed=4), str(tmp_path / "other"), image_size=16
    )
    copy_tree = pusher._copy_tree

    def copy_other_model(source, target):
        copy_tree(os.path.join(other, "saved_model"), target)

    monkeypatch.setattr(pusher, "_copy_tree", copy_other_model)
    destination = str(tmp_path / "serving")
    with pytest.raises(RuntimeError, match="'serving_default' disagrees"):
        _push(
            str(tmp_path),
            model,
            _blessing(str(tmp_path), model),
            1,
            push_destination=destination,
        )
    assert os.listdir(destination) == []
