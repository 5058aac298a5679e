"""`Pretrain` as an adapter: its config, its export, failing loudly."""

import json
import types

import pytest

import ssl_tf
from components import Pretrain
from components.types import Examples, Model, ModelRun
from ssl_tf.export import saved_model
from ssl_tf.testing import tiny_encoder


def run_component(tmp_path, monkeypatch, encoder):
    """Runs `Pretrain` with `ssl_tf.pretrain` replaced by a fake.

    Returns the artifacts and what the fake was called with.
    """
    seen = {}

    def fake_pretrain(config, **kwargs):
        seen["config"], seen["kwargs"] = config, kwargs
        return types.SimpleNamespace(
            model=types.SimpleNamespace(encoder=encoder),
            run_dir=f"{config.output_dir}/{config.name}",
            history={"loss": [1.5]},
            seconds=2.0,
        )

    monkeypatch.setattr(ssl_tf, "pretrain", fake_pretrain)
    examples = Examples(str(tmp_path / "ex"), {"split_names": ["train"]})
    model, model_run = Model(str(tmp_path / "m")), ModelRun(str(tmp_path / "r"))
    Pretrain.EXECUTOR(
        examples=examples,
        model=model,
        model_run=model_run,
        config_json=ssl_tf.get_preset("smoke").to_json(),
    )
    return examples, model, model_run, seen


def test_config_and_export_metadata(tmp_path, monkeypatch):
    encoder = tiny_encoder(strides=2, input_size=16)
    examples, model, model_run, seen = run_component(
        tmp_path, monkeypatch, encoder
    )
    config = seen["config"]
    assert (config.data.source, config.data.split) == ("tfrecord", "train")
    assert config.data.name == f"{examples.uri}/Split-{{split}}/*.tfrecord"
    assert (config.output_dir, config.export_dir) == (model_run.uri, model.uri)
    assert config.train == ssl_tf.get_preset("smoke").train
    assert seen["kwargs"]["do_export"] is False
    # The export is the library's: its metadata is the config it ran.
    metadata = ssl_tf.read_metadata(model.uri)
    assert metadata["config"] == json.loads(config.to_json())
    assert model.properties == {
        "image_size": 16,
        "embedding_dim": 4,
        "fingerprint": ssl_tf.export.encoder_fingerprint(encoder, 16),
        "method": "simclr",
    }
    assert model_run.properties == {
        "run_dir": f"{model_run.uri}/smoke",
        "history": {"loss": [1.5]},
        "seconds": 2.0,
    }


def test_missing_export_fails_loudly(tmp_path, monkeypatch):
    # An export that silently writes nothing.
    monkeypatch.setattr(saved_model, "export_encoder", lambda *a, **k: None)
    with pytest.raises(
        RuntimeError, match="^Pretrain failed to generate model.$"
    ):
        run_component(tmp_path, monkeypatch, encoder=None)


def test_unknown_split_is_named(tmp_path):
    examples = Examples(str(tmp_path), {"split_names": ["train"]})
    with pytest.raises(ValueError, match="Available splits: \\['train'\\]"):
        Pretrain.EXECUTOR(
            examples=examples,
            model=Model(str(tmp_path)),
            model_run=ModelRun(str(tmp_path)),
            config_json="{}",
            split="unlabeled",
        )
