"""`Evaluator`: thresholds, change against the last blessing, the verdict."""

import io
import json
import os

import pytest
import tensorflow as tf
from PIL import Image

import ssl_tf
from components import Evaluator, OutputArtifact, component, thresholds
from components.types import Examples, Model, ModelBlessing, ModelEvaluation
from ssl_tf.testing import colour_classes, tiny_export

PROTOCOLS = ["knn", "linear"]


def _judge(spec, metrics, baseline=None):
    parsed = thresholds.parse_thresholds(json.dumps(spec), PROTOCOLS)
    return thresholds.judge(parsed, metrics, baseline)


def test_absolute_bounds_pass_and_fail_with_their_values():
    verdict = _judge(
        {"linear_top1": {"lower_bound": 0.5, "upper_bound": 0.99}},
        {"linear_top1": 0.625},
    )
    assert verdict.blessed
    assert verdict.reason == (
        "blessed: no threshold failed (2 checked); "
        "linear_top1 = 0.625 >= 0.5: pass; "
        "linear_top1 = 0.625 <= 0.99: pass; "
        "no baseline: change thresholds skipped"
    )
    verdict = _judge(
        {"linear_top1": {"lower_bound": 0.7}, "knn_top1": {"upper_bound": 1}},
        {"linear_top1": 0.625, "knn_top1": 0.5},
    )
    assert not verdict.blessed
    assert [(c.metric, c.outcome) for c in verdict.checks] == [
        ("knn_top1", "pass"),
        ("linear_top1", "fail"),
    ]
    assert "linear_top1 = 0.625 >= 0.7: fail" in verdict.reason
    assert verdict.reason.startswith("not blessed: 1 of 2 thresholds failed")


@pytest.mark.parametrize(
    "new, blessed, change",
    [
        (0.63, True, -0.0075),  # dropped 0.0075: within the allowed 0.01
        (0.62, False, -0.0175),  # dropped 0.0175: more than allowed
        (0.70, True, 0.0625),
    ],
)
def test_absolute_change_against_the_baseline(new, blessed, change):
    verdict = _judge(
        {"knn_top1": {"change": {"absolute": -0.01}}},
        {"knn_top1": new},
        baseline={"knn_top1": 0.6375},
    )
    assert verdict.blessed is blessed
    (check,) = verdict.checks
    assert check.kind == "change.absolute"
    assert check.value == pytest.approx(change)
    outcome = "pass" if blessed else "fail"
    assert (
        f"knn_top1 change absolute = {check.value:.6g} >= -0.01 "
        f"({new:.6g} vs baseline 0.6375): {outcome}"
    ) in verdict.reason
    assert thresholds.NO_BASELINE not in verdict.reason


def test_relative_change_and_a_missing_baseline():
    spec = {"knn_top1": {"change": {"relative": -0.1}}}
    # 0.54 is 10% below 0.6: the bound itself passes; 0.53 fails.
    assert _judge(spec, {"knn_top1": 0.54}, {"knn_top1": 0.6}).blessed
    assert not _judge(spec, {"knn_top1": 0.53}, {"knn_top1": 0.6}).blessed
    first_run = _judge(spec, {"knn_top1": 0.1}, baseline=None)
    assert first_run.blessed
    assert first_run.checks[0].outcome == "skipped"
    assert first_run.reason.endswith(
        "knn_top1 change relative = unknown >= -0.1 (no baseline): skipped; "
        "no baseline: change thresholds skipped"
    )


def test_unmeasured_metric_fails():
    verdict = _judge({"knn_top5": {"lower_bound": 0.1}}, {"knn_top1": 1.0})
    assert not verdict.blessed
    assert "knn_top5 = unknown >= 0.1 (not measured): fail" in verdict.reason


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"linaer_top1": {"lower_bound": 0.5}}, r"Unknown metric.*linaer_top1"),
        ({"linear_top1": {"lower": 0.5}}, r"Unknown key.*'lower'.*lower_bound"),
        (
            {"knn_top1": {"change": {"abs": -0.01}}},
            r"Unknown key.*'abs'.*knn_top1.change",
        ),
        ({"knn_top1": {"lower_bound": "0.5"}}, r"knn_top1.lower_bound must be"),
        ({"knn_top1": {}}, r"'knn_top1' must be a non-empty object"),
        (
            {"knn_top1": {"lower_bound": 0.9, "upper_bound": 0.5}},
            r"lower_bound 0.9 is above upper_bound 0.5",
        ),
    ],
)
def test_bad_thresholds_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        thresholds.parse_thresholds(json.dumps(spec), PROTOCOLS)


def test_threshold_on_a_protocol_that_does_not_run():
    with pytest.raises(ValueError, match=r"\['linear_top1'\].*\['knn'\]"):
        thresholds.parse_thresholds(
            '{"linear_top1": {"lower_bound": 0}}', ["knn"]
        )


def _write_examples(root, splits):
    """Hand-written Examples of colour-class PNGs (label = colour)."""
    for split, (images, labels) in splits.items():
        directory = os.path.join(root, f"Split-{split}")
        os.makedirs(directory)
        path = os.path.join(directory, "data-00000-of-00001.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for image, label in zip(images, labels, strict=True):
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="PNG")
                feature = {
                    "image": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[buffer.getvalue()])
                    ),
                    "label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[int(label)])
                    ),
                }
                example = tf.train.Example(
                    features=tf.train.Features(feature=feature)
                )
                writer.write(example.SerializeToString())
    return Examples(
        root, {"split_names": list(splits), "fingerprint": {"files": 2}}
    )


@pytest.fixture(scope="module")
def evaluator_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluator")
    examples = _write_examples(
        str(root / "examples"),
        {
            "train": colour_classes(12, seed=0),
            "test": colour_classes(6, seed=1),
        },
    )
    model = Model(tiny_export(str(root / "model")))
    return examples, model


def _run(tmp_path, inputs, name, baseline=None, **parameters):
    examples, model = inputs
    outputs = {
        "evaluation": ModelEvaluation(str(tmp_path / name / "evaluation")),
        "blessing": ModelBlessing(str(tmp_path / name / "blessing")),
    }
    for artifact in outputs.values():
        os.makedirs(artifact.uri)
    Evaluator.EXECUTOR(
        examples=examples,
        model=model,
        baseline=baseline,
        train_split="train",
        test_split="test",
        **outputs,
        **parameters,
    )
    return outputs["evaluation"], outputs["blessing"]


def test_evaluator_blesses_then_compares_with_the_baseline(
    tmp_path, evaluator_inputs
):
    protocols = json.dumps({"knn": {"k": 3}})
    evaluation, blessing = _run(
        tmp_path,
        evaluator_inputs,
        "first",
        protocols_json=json.dumps(
            {"knn": {"k": 3}, "linear": {"max_iter": 50}}
        ),
        thresholds_json=json.dumps(
            {
                "knn_top1": {
                    "lower_bound": 0.9,
                    "change": {"absolute": -0.01},
                },
                "linear_top1": {"lower_bound": 0.9},
            }
        ),
    )
    # One conv separates the colour classes: every test image is right.
    result = evaluation.read_result()
    assert result["results"]["knn"]["metrics"]["top1"] == 1.0
    assert result["results"]["linear"]["metrics"]["top1"] == 1.0
    assert result["metrics"] == evaluation.properties["metrics"]
    metrics = blessing.properties["metrics"]
    assert (metrics["knn_top1"], metrics["linear_top1"]) == (1.0, 1.0)
    assert "linear_top1 = 1 >= 0.9: pass" in blessing.properties["reason"]
    assert blessing.blessed
    assert os.listdir(blessing.uri) == ["BLESSED"]
    assert blessing.properties["reason"].endswith(thresholds.NO_BASELINE)
    assert blessing.properties["model_uri"] == evaluator_inputs[1].uri
    assert blessing.properties["data_fingerprint"] == {"files": 2}

    # A baseline that scored higher: 1.0 is 0.05 below it, more than 0.01.
    baseline = ModelBlessing(
        "/old", {"blessed": True, "metrics": {"knn_top1": 1.05}}
    )
    _, second = _run(
        tmp_path,
        evaluator_inputs,
        "second",
        baseline=baseline,
        protocols_json=protocols,
        thresholds_json='{"knn_top1": {"change": {"absolute": -0.01}}}',
    )
    assert not second.blessed
    assert os.listdir(second.uri) == ["NOT_BLESSED"]
    with open(os.path.join(second.uri, "NOT_BLESSED")) as handle:
        assert handle.read().strip() == second.properties["reason"]
    assert (
        "knn_top1 change absolute = -0.05 >= -0.01 (1 vs baseline 1.05): fail"
        in second.properties["reason"]
    )


@pytest.mark.parametrize(
    "parameters, error, message",
    [
        (
            {"thresholds_json": '{"knn_top2": {"lower_bound": 0.1}}'},
            ValueError,
            "Unknown metric.*knn_top2",
        ),
        ({"protocols_json": '{"fewshot": {}}'}, ValueError, "runs.*fewshot"),
        (
            {"protocols_json": '{"knn": {"kk": 1}}'},
            ssl_tf.ConfigError,
            "Unknown options",
        ),
    ],
)
def test_bad_parameters_fail_before_any_evaluation(
    tmp_path, evaluator_inputs, monkeypatch, parameters, error, message
):
    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated despite bad parameters")

    monkeypatch.setattr(ssl_tf, "evaluate", no_evaluation)
    with pytest.raises(error, match=message):
        _run(tmp_path, evaluator_inputs, "bad", **parameters)


@component
def Source(examples: OutputArtifact[Examples], model: OutputArtifact[Model]):
    """Stands in for the components upstream of the Evaluator."""


def test_baseline_input_is_optional():
    assert Evaluator.SPEC.inputs["baseline"] is ModelBlessing
    assert Evaluator.SPEC.defaults["baseline"] is None
    source = Source()
    first = Evaluator(**source.outputs)
    assert set(first.inputs) == {"examples", "model"}
    second = Evaluator(**source.outputs, baseline=first.outputs["blessing"])
    assert second.inputs["baseline"] is first.outputs["blessing"]
    assert thresholds.judge({}, {"knn_top1": 0.3}, None).reason == (
        "blessed: no thresholds; " + thresholds.NO_BASELINE
    )
