"""`Pretrain` as an adapter: the config it builds, and failing loudly."""

import types

import pytest

from components import Pretrain, pretrain
from components.types import Examples, Model, ModelRun
from ssl_tf import presets


def test_missing_export_fails_loudly(tmp_path, monkeypatch):
    seen = {}

    def fake_pretrain(config, **kwargs):
        seen["config"], seen["kwargs"] = config, kwargs
        return types.SimpleNamespace(model=types.SimpleNamespace(encoder=None))

    monkeypatch.setattr(pretrain.run, "pretrain", fake_pretrain)
    # An export that silently writes nothing.
    monkeypatch.setattr(pretrain.export, "export_encoder", lambda *a, **k: None)
    examples = Examples(str(tmp_path / "ex"), {"split_names": ["train"]})
    model, model_run = Model(str(tmp_path / "m")), ModelRun(str(tmp_path / "r"))
    config = presets.get_preset("smoke")
    with pytest.raises(
        RuntimeError, match="^Pretrain failed to generate model.$"
    ):
        Pretrain.EXECUTOR(
            examples=examples,
            model=model,
            model_run=model_run,
            config_json=config.to_json(),
        )
    data = seen["config"].data
    assert (data.source, data.split) == ("tfrecord", "train")
    assert data.name == f"{examples.uri}/Split-{{split}}/*.tfrecord"
    assert seen["config"].output_dir == model_run.uri
    assert seen["config"].train == config.train
    assert seen["kwargs"]["do_export"] is False


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
