import copy
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import config as config_lib
from ssl_tf import testing
from ssl_tf.testing import mirrored_strategy
from ssl_tf.training import optimizers, schedules
from ssl_tf.training.optimizers import NO_DECAY_NAMES

_NO_DECAY = ["gamma", "bias"]


def lars_reference(
    weights,
    grads_per_step,
    learning_rate,
    momentum,
    weight_decay,
    eta,
    no_decay,
    no_adaptation,
    nesterov=False,
):
    """SimCLR's `lars_optimizer.py` (classic momentum) in float64 NumPy."""
    weights = {k: np.array(w, np.float64) for k, w in weights.items()}
    velocities = {k: np.zeros_like(w) for k, w in weights.items()}
    for grads in grads_per_step:
        for key, w in weights.items():
            g = np.array(grads[key], np.float64)
            if key not in no_decay:
                g = g + weight_decay * w
            trust_ratio = 1.0
            if key not in no_adaptation:
                w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
                if w_norm > 0 and g_norm > 0:
                    trust_ratio = eta * w_norm / g_norm
            scaled_lr = learning_rate * trust_ratio
            velocities[key] = momentum * velocities[key] + scaled_lr * g
            if nesterov:
                update = momentum * velocities[key] + scaled_lr * g
            else:
                update = velocities[key]
            weights[key] = w - update
    return weights


def make_variables(rng):
    initial = {
        "kernel": rng.normal(size=(3, 2)),
        "gamma": 1.0 + 0.1 * rng.normal(size=(2,)),
        "bias": 0.1 * rng.normal(size=(2,)),
    }
    variables = [
        keras.Variable(value, dtype="float32", name=key)
        for key, value in initial.items()
    ]
    return initial, variables


def assert_weights(test, variables, expected, rtol):
    """Each variable equals `expected[variable.name]` (atol 1e-6)."""
    for variable in variables:
        test.assertAllClose(
            variable, expected[variable.name], rtol=rtol, atol=1e-6
        )


def mirrored_step(strategy, optimizer, grads, variables):
    """A `tf.function` step: every replica applies `grads` (keyed by name)."""

    @tf.function
    def step():
        def replica_fn():
            optimizer.apply(
                [tf.constant(grads[v.name], tf.float32) for v in variables],
                variables,
            )

        strategy.run(replica_fn)

    return step


class LARSTest(testing.TestCase):
    @parameterized.named_parameters(
        ("explicit_exclusions", dict(exclude_from_adaptation=_NO_DECAY)),
        ("nesterov", dict(exclude_from_adaptation=_NO_DECAY, nesterov=True)),
        # As in SimCLR, `None` reuses the weight decay exclusions.
        ("adaptation_defaults_to_decay_exclusions", {}),
        ("in_graph", dict(exclude_from_adaptation=_NO_DECAY), True),
    )
    def test_three_steps_match_numpy_reference(self, kwargs, in_graph=False):
        rng = np.random.default_rng(0)
        initial, variables = make_variables(rng)
        grads_per_step = [
            {k: rng.normal(size=v.shape) for k, v in initial.items()}
            for _ in range(3)
        ]
        hyper = dict(learning_rate=0.5, momentum=0.9, weight_decay=0.1)
        optimizer = optimizers.LARS(trust_coefficient=0.5, **hyper, **kwargs)
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)

        def apply(grads):
            optimizer.apply(grads, variables)

        if in_graph:
            optimizer.build(variables)
            apply = tf.function(apply)
        for grads in grads_per_step:
            apply([grads[v.name].astype("float32") for v in variables])

        expected = lars_reference(
            initial,
            grads_per_step,
            eta=0.5,
            no_decay=_NO_DECAY,
            no_adaptation=_NO_DECAY,
            nesterov=kwargs.get("nesterov", False),
            **hyper,
        )
        assert_weights(self, variables, expected, rtol=1e-5)

    def test_adaptation_changes_the_kernel_update(self):
        # Guards the reference comparison: with no exclusions the kernel's
        # trust ratio differs, so the two runs must disagree.
        rng = np.random.default_rng(0)
        initial, _ = make_variables(rng)
        grads = [{k: np.ones_like(v) for k, v in initial.items()}]
        common = dict(
            learning_rate=0.5, momentum=0.9, weight_decay=0.1, eta=0.5
        )
        adapted = lars_reference(
            initial, grads, **common, no_decay=[], no_adaptation=[]
        )
        plain = lars_reference(
            initial, grads, **common, no_decay=[], no_adaptation=["kernel"]
        )
        self.assertNotAllClose(adapted["kernel"], plain["kernel"])

    @parameterized.named_parameters(
        # ||w|| = 0: trust ratio 1, so w = -lr * g.
        (
            "zero_weight",
            np.zeros((3, 2)),
            np.ones((3, 2)),
            -0.5 * np.ones((3, 2)),
        ),
        # ||g|| = 0: trust ratio 1 (not 0 / 0), nothing moves and no NaN.
        ("zero_gradient", np.ones((3, 2)), np.zeros((3, 2)), np.ones((3, 2))),
    )
    def test_zero_norm_gives_trust_ratio_one(self, weight, gradient, expected):
        variable = keras.Variable(weight, dtype="float32", name="kernel")
        optimizer = optimizers.LARS(learning_rate=0.5, momentum=0.9)
        optimizer.apply([gradient.astype("float32")], [variable])
        self.assertAllClose(variable, expected)

    @parameterized.named_parameters(
        # Without adaptation: w -= lr * wd * w = 0.05 * w (twice would be 0.1).
        ("no_adaptation", ["kernel"], 1.0 - 0.5 * 0.1),
        # With it: trust ratio = eta / wd, so w -= lr * eta * w.
        ("with_adaptation", [], 1.0 - 0.5 * 0.001),
    )
    def test_weight_decay_applied_once(self, no_adaptation, factor):
        weight = np.arange(1.0, 7.0).reshape(3, 2)
        variable = keras.Variable(weight, dtype="float32", name="kernel")
        optimizer = optimizers.LARS(
            learning_rate=0.5,
            momentum=0.0,
            weight_decay=0.1,
            exclude_from_adaptation=no_adaptation,
        )
        optimizer.apply([np.zeros((3, 2), "float32")], [variable])
        self.assertIsNone(optimizer.weight_decay)  # base decay switched off
        self.assertAllClose(variable, factor * weight, rtol=1e-6)

    @pytest.mark.distributed
    def test_mirrored_strategy_matches_reference(self):
        strategy = mirrored_strategy()
        rng = np.random.default_rng(1)
        with strategy.scope():
            initial, variables = make_variables(rng)
            optimizer = optimizers.LARS(
                learning_rate=0.5,
                weight_decay=0.1,
                trust_coefficient=0.5,
                exclude_from_adaptation=_NO_DECAY,
            )
            optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
            optimizer.build(variables)
        grads = {k: rng.normal(size=v.shape) for k, v in initial.items()}
        step = mirrored_step(strategy, optimizer, grads, variables)
        step()
        # Keras sums the gradients over the 2 replicas.
        summed = {k: 2 * g for k, g in grads.items()}
        expected = lars_reference(
            initial,
            [summed],
            learning_rate=0.5,
            momentum=0.9,
            weight_decay=0.1,
            eta=0.5,
            no_decay=_NO_DECAY,
            no_adaptation=_NO_DECAY,
        )
        assert_weights(self, variables, expected, rtol=1e-5)


def torch_sgd_reference(
    weights,
    grad_fn,
    learning_rates,
    momentum=0.9,
    weight_decay=5e-4,
    no_decay=("bias",),
    nesterov=False,
):
    """`torch.optim.SGD` (dampening 0) in float64 NumPy, one lr per step.

    The defaults are the hyperparameters most tests here use.

    `grad_fn(weights)` returns the loss gradients at the current weights.
    """
    weights = {k: np.array(w, np.float64) for k, w in weights.items()}
    buffers = {}
    for learning_rate in learning_rates:
        grads = grad_fn(weights)
        for key, w in weights.items():
            g = grads[key]
            if key not in no_decay:
                g = g + weight_decay * w
            # torch: buf = clone(g) on the first step, then momentum * buf + g.
            if key in buffers:
                buffers[key] = momentum * buffers[key] + g
            else:
                buffers[key] = g
            step = g + momentum * buffers[key] if nesterov else buffers[key]
            weights[key] = w - learning_rate * step
    return weights


# Ten different rates: a buffer that summed lr * g (as Keras's SGD does)
# would drift away from the reference.
_LEARNING_RATES = [0.5, 0.3, 0.8, 0.1, 0.6, 0.2, 0.9, 0.4, 0.05, 0.7]


class ListSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The rate `values[step]`, to replay a fixed list of rates."""

    def __init__(self, values):
        self.values = values

    def __call__(self, step):
        return keras.ops.take(
            keras.ops.convert_to_tensor(self.values, "float32"), step
        )

    def get_config(self):
        return {"values": self.values}


def quadratic_problem(seed=0):
    """A (3, 2) kernel and a bias on 0.5 * mean ||x @ kernel + bias - y||^2."""
    rng = np.random.default_rng(seed)
    initial = {"kernel": rng.normal(size=(3, 2)), "bias": rng.normal(size=2)}
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))

    def grad_fn(weights):
        # The mean keeps the curvature near 1: 10 steps at rates up to 0.9
        # stay stable, so float32 round-off stays near 1e-7.
        residual = (x @ weights["kernel"] + weights["bias"] - y) / len(x)
        return {"kernel": x.T @ residual, "bias": residual.sum(0)}

    return initial, grad_fn


def assert_same(test, actual, expected):
    """`actual` equals the `expected` weights to 1e-6."""
    for key in expected:
        test.assertAllClose(actual[key], expected[key], rtol=0, atol=1e-6)


def run_quadratic(optimizer, initial, grad_fn, steps, in_graph=False):
    """`steps` optimizer steps on the quadratic problem, as NumPy weights."""
    variables = [
        keras.Variable(value, dtype="float32", name=key)
        for key, value in initial.items()
    ]
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))

    def apply(grads):
        optimizer.apply(grads, variables)

    if in_graph:
        optimizer.build(variables)
        apply = tf.function(apply)
    for _ in range(steps):
        weights = {v.name: np.asarray(v, np.float64) for v in variables}
        grads = grad_fn(weights)
        apply([grads[v.name].astype("float32") for v in variables])
    return {v.name: np.asarray(v, np.float64) for v in variables}


class CoupledSGDTest(testing.TestCase):
    @parameterized.named_parameters(
        ("momentum", {}),
        ("nesterov", dict(nesterov=True)),
        ("in_graph", {}, True),
    )
    def test_ten_steps_match_torch_reference(self, kwargs, in_graph=False):
        initial, grad_fn = quadratic_problem()
        optimizer = optimizers.CoupledSGD(
            learning_rate=ListSchedule(_LEARNING_RATES),
            momentum=0.9,
            weight_decay=5e-4,
            **kwargs,
        )
        actual = run_quadratic(
            optimizer, initial, grad_fn, len(_LEARNING_RATES), in_graph
        )
        expected = torch_sgd_reference(
            initial, grad_fn, _LEARNING_RATES, **kwargs
        )
        assert_same(self, actual, expected)
        # The weights really moved, by more than the tolerance.
        self.assertNotAllClose(expected["kernel"], initial["kernel"])

    def test_reference_sees_weight_decay_and_exclusions(self):
        # Guards the reference comparison: decay on the bias, or no decay
        # at all, gives different weights after 10 steps.
        initial, grad_fn = quadratic_problem()
        common = dict(learning_rates=_LEARNING_RATES, momentum=0.9)
        expected = torch_sgd_reference(
            initial, grad_fn, weight_decay=5e-4, no_decay=["bias"], **common
        )
        no_decay = torch_sgd_reference(
            initial, grad_fn, weight_decay=0.0, no_decay=[], **common
        )
        bias_decayed = torch_sgd_reference(
            initial, grad_fn, weight_decay=5e-4, no_decay=[], **common
        )
        self.assertGreater(
            np.abs(expected["kernel"] - no_decay["kernel"]).max(), 1e-5
        )
        self.assertGreater(
            np.abs(expected["bias"] - bias_decayed["bias"]).max(), 1e-5
        )

    @parameterized.named_parameters(
        # Constant rate: only the decay differs (decoupled w -= lr * wd * w
        # against wd * w summed into the momentum), ~5e-4 after 10 steps.
        ("constant_rate", [0.1] * 10, 1e-4),
        # Changing rate: Keras's velocity also sums lr * g, not g.
        ("changing_rate", _LEARNING_RATES, 1e-2),
    )
    def test_decoupled_keras_sgd_differs(self, rates, min_difference):
        # `sgdw` on the same problem must leave the torch reference by far
        # more than the 1e-6 tolerance the coupled optimizer meets.
        initial, grad_fn = quadratic_problem()
        optimizer = optimizers.build_optimizer(
            train_config(optimizer="sgdw", weight_decay=5e-4),
            steps_per_epoch=4,
        )
        optimizer.learning_rate = ListSchedule(rates)
        self.assertAllClose(optimizer.learning_rate, rates[0])
        decoupled = run_quadratic(optimizer, initial, grad_fn, len(rates))
        expected = torch_sgd_reference(initial, grad_fn, rates)
        self.assertGreater(
            np.abs(decoupled["kernel"] - expected["kernel"]).max(),
            min_difference,
        )

    def test_weight_decay_goes_through_momentum(self):
        # Zero gradients, lr 0.5, wd 0.1: torch steps 0.05 * w, then
        # 0.05 * w' + 0.9 * buf. Decoupled decay would only ever step
        # 0.05 * w (and a Keras velocity holds lr * wd * w, not wd * w).
        weight = np.arange(1.0, 7.0).reshape(3, 2)
        variable = keras.Variable(weight, dtype="float32", name="kernel")
        optimizer = optimizers.CoupledSGD(
            learning_rate=0.5, momentum=0.9, weight_decay=0.1
        )
        zeros = np.zeros((3, 2), "float32")
        optimizer.apply([zeros], [variable])
        first = 0.95 * weight
        self.assertAllClose(variable, first, rtol=1e-6)
        optimizer.apply([zeros], [variable])
        buffer = 0.9 * 0.1 * weight + 0.1 * first
        self.assertAllClose(variable, first - 0.5 * buffer, rtol=1e-6)
        self.assertIsNone(optimizer.weight_decay)  # base decay switched off

    def test_no_momentum_keeps_no_buffer(self):
        variable = keras.Variable(np.ones((3, 2)), dtype="float32", name="k")
        optimizer = optimizers.CoupledSGD(learning_rate=0.5, weight_decay=0.1)
        optimizer.apply([np.ones((3, 2), "float32")], [variable])
        self.assertEqual(optimizer.momentums, [])
        # w - lr * (g + wd * w) = 1 - 0.5 * 1.1.
        self.assertAllClose(variable, np.full((3, 2), 0.45))

    @pytest.mark.distributed
    def test_mirrored_strategy_matches_reference(self):
        # The decay flags are decided on the `keras.Variable`s at build, so
        # they must hold for the per-replica copies too.
        strategy = mirrored_strategy()
        initial, grad_fn = quadratic_problem()
        with strategy.scope():
            variables = [
                keras.Variable(value, dtype="float32", name=key)
                for key, value in initial.items()
            ]
            optimizer = optimizers.CoupledSGD(
                learning_rate=0.5, momentum=0.9, weight_decay=0.1
            )
            optimizer.exclude_from_weight_decay(var_names=["bias"])
            optimizer.build(variables)
        grads = grad_fn(initial)
        step = mirrored_step(strategy, optimizer, grads, variables)
        step()
        step()
        # Keras sums the gradients over the 2 replicas (the same gradients
        # twice: `grads` is not recomputed between the steps).
        expected = torch_sgd_reference(
            initial,
            lambda weights: {k: 2 * g for k, g in grads.items()},
            [0.5, 0.5],
            momentum=0.9,
            weight_decay=0.1,
            no_decay=["bias"],
        )
        assert_weights(self, variables, expected, rtol=0)


class SerializationAndArgumentsTest(testing.TestCase):
    @parameterized.named_parameters(
        (
            "lars",
            optimizers.LARS,
            dict(trust_coefficient=0.002, exclude_from_adaptation=["bias"]),
        ),
        ("coupled_sgd", optimizers.CoupledSGD, {}),
    )
    def test_get_config_round_trip(self, cls, extra):
        optimizer = cls(
            learning_rate=schedules.WarmupCosine(0.6, 12, 4),
            momentum=0.8,
            weight_decay=5e-4,
            nesterov=True,
            clipnorm=1.0,
            **extra,
        )
        config = optimizer.get_config()
        expected = dict(momentum=0.8, weight_decay=5e-4, clipnorm=1.0, **extra)
        self.assertEqual({k: config[k] for k in expected}, expected)
        # from_config replaces the serialized schedule in place: pass a copy.
        restored = cls.from_config(copy.deepcopy(config))
        self.assertEqual(restored.get_config(), config)
        self.assertIsInstance(restored.learning_rate, tf.Tensor)
        deserialized = keras.optimizers.deserialize(
            keras.optimizers.serialize(optimizer)
        )
        self.assertIsInstance(deserialized, cls)
        self.assertEqual(deserialized.get_config(), config)

    @parameterized.named_parameters(
        ("lars_momentum", optimizers.LARS, dict(momentum=1.5), "`momentum`"),
        (
            "lars_weight_decay",
            optimizers.LARS,
            dict(weight_decay=-1.0),
            "`weight_decay`",
        ),
        (
            "lars_trust",
            optimizers.LARS,
            dict(trust_coefficient=0.0),
            "`trust_coefficient`",
        ),
        (
            "sgd_momentum",
            optimizers.CoupledSGD,
            dict(momentum=1.5),
            "`momentum`",
        ),
        (
            "sgd_weight_decay",
            optimizers.CoupledSGD,
            dict(weight_decay=-1.0),
            "`weight_decay`",
        ),
    )
    def test_invalid_arguments(self, cls, kwargs, name):
        with self.assertRaisesRegex(ValueError, f"{name} must be"):
            cls(**kwargs)


def train_config(**kwargs):
    defaults = dict(
        batch_size=512,
        epochs=3,
        learning_rate=0.3,
        lr_scaling="linear",
        warmup_epochs=1.0,
        weight_decay=0.1,
    )
    return config_lib.TrainConfig(**{**defaults, **kwargs})


class BuildOptimizerTest(testing.TestCase):
    @parameterized.named_parameters(
        ("lars", "lars", optimizers.LARS),
        ("sgd", "sgd", optimizers.CoupledSGD),
        ("sgdw", "sgdw", keras.optimizers.SGD),
        ("adam", "adam", keras.optimizers.Adam),
        ("adamw", "adamw", keras.optimizers.AdamW),
    )
    def test_class_and_schedule(self, name, cls):
        optimizer = optimizers.build_optimizer(
            train_config(optimizer=name), steps_per_epoch=4
        )
        self.assertIs(type(optimizer), cls)
        # Warm-up over 4 steps to 0.3 * 512 / 256, then cosine to 0 at 12.
        self.assertAllClose(optimizer.learning_rate, 0.0)
        optimizer.iterations.assign(2)
        self.assertAllClose(optimizer.learning_rate, 0.3)
        optimizer.iterations.assign(4)
        self.assertAllClose(optimizer.learning_rate, 0.6)
        optimizer.iterations.assign(12)
        self.assertAllClose(optimizer.learning_rate, 0.0, atol=1e-7)

    def test_sgd_follows_torch_with_the_schedule(self):
        # End to end: momentum, weight decay and exclusions reach the
        # optimizer, and the warm-up + cosine rates drive the torch rule.
        optimizer = optimizers.build_optimizer(
            train_config(optimizer="sgd", weight_decay=5e-4),
            steps_per_epoch=4,
        )
        schedule = schedules.WarmupCosine(0.6, total_steps=12, warmup_steps=4)
        rates = [float(schedule(step)) for step in range(10)]
        initial, grad_fn = quadratic_problem()
        actual = run_quadratic(optimizer, initial, grad_fn, len(rates))
        assert_same(self, actual, torch_sgd_reference(initial, grad_fn, rates))

    def test_sqrt_scaling_and_rounded_warmup(self):
        config = train_config(
            learning_rate=0.075, batch_size=64, lr_scaling="sqrt"
        )
        optimizer = optimizers.build_optimizer(
            dataclasses.replace(config, warmup_epochs=0.75), steps_per_epoch=4
        )
        # round(0.75 * 4) = 3 warm-up steps to 0.075 * sqrt(64) = 0.6.
        optimizer.iterations.assign(3)
        self.assertAllClose(optimizer.learning_rate, 0.6)

    def test_adam_has_no_weight_decay(self):
        optimizer = optimizers.build_optimizer(
            train_config(optimizer="adam"), steps_per_epoch=4
        )
        self.assertIsNone(optimizer.weight_decay)

    @parameterized.named_parameters(
        # Decoupled decay: w -= lr * wd * w with lr = 0.3, wd = 0.1.
        ("sgdw", "sgdw", 1.0 - 0.3 * 0.1),
        # Coupled, first step: g = wd * w, buf = g, so w -= lr * wd * w too.
        ("sgd", "sgd", 1.0 - 0.3 * 0.1),
        ("adamw", "adamw", 1.0 - 0.3 * 0.1),
        # LARS: g = wd * w, trust ratio = eta / wd, so w -= lr * eta * w.
        ("lars", "lars", 1.0 - 0.3 * 0.001),
    )
    def test_bias_and_gamma_excluded_from_weight_decay(self, name, factor):
        optimizer = optimizers.build_optimizer(
            train_config(optimizer=name, batch_size=256, warmup_epochs=0.0),
            steps_per_epoch=4,
        )
        kernel, bias, gamma = (
            np.arange(1.0, 7.0).reshape(3, 2),
            np.array([0.5, -0.5]),
            np.array([1.0, 2.0]),
        )
        variables = [
            keras.Variable(kernel, dtype="float32", name="kernel"),
            keras.Variable(bias, dtype="float32", name="bias"),
            keras.Variable(gamma, dtype="float32", name="gamma"),
        ]
        optimizer.apply(
            [np.zeros(v.shape, "float32") for v in variables], variables
        )
        self.assertAllClose(variables[0], factor * kernel, rtol=1e-6)
        self.assertAllClose(variables[1], bias)
        self.assertAllClose(variables[2], gamma)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, "`steps_per_epoch` must be"):
            optimizers.build_optimizer(train_config(), steps_per_epoch=0)
        with self.assertRaisesRegex(ValueError, "optimizer='rmsprop'"):
            optimizers.build_optimizer(
                train_config(optimizer="rmsprop"), steps_per_epoch=4
            )


if __name__ == "__main__":
    tf.test.main()
