import math

import keras
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import testing
from ssl_tf.training import schedules

# peak 1.0, final 0.1, warm-up over steps 0..2, cosine over steps 2..10.
_HALF_WAY = 0.1 + 0.5 * 0.9 * (1 + math.cos(math.pi * 0.5))  # 0.55
_QUARTER = 0.1 + 0.5 * 0.9 * (1 + math.cos(math.pi * 0.25))  # 0.868198


class WarmupCosineTest(testing.TestCase):
    def make_schedule(self):
        return schedules.WarmupCosine(
            peak_learning_rate=1.0,
            total_steps=10,
            warmup_steps=2,
            final_learning_rate=0.1,
        )

    @parameterized.named_parameters(
        ("start", 0, 0.0),
        ("mid_warmup", 1, 0.5),
        ("end_of_warmup", 2, 1.0),
        ("quarter_decay", 4, _QUARTER),
        ("mid_decay", 6, 0.55),
        ("end", 10, 0.1),
        ("after_end", 25, 0.1),
    )
    def test_values(self, step, expected):
        self.assertAllClose(self.make_schedule()(step), expected, atol=1e-6)

    def test_hand_computed_constants(self):
        self.assertAllClose(_HALF_WAY, 0.55)
        self.assertAllClose(_QUARTER, 0.8681980515, atol=1e-9)

    def test_int64_step_in_graph(self):
        # Optimizers pass `iterations`, an int64 variable, inside tf.function.
        schedule = self.make_schedule()
        value = tf.function(schedule)(tf.constant(6, dtype=tf.int64))
        self.assertEqual(value.dtype, tf.float32)
        self.assertAllClose(value, 0.55, atol=1e-6)

    def test_no_warmup_starts_at_peak(self):
        schedule = schedules.WarmupCosine(2.0, total_steps=4)
        self.assertAllClose(schedule(0), 2.0)
        self.assertAllClose(schedule(2), 1.0, atol=1e-6)
        self.assertAllClose(schedule(4), 0.0, atol=1e-6)

    def test_serialize_round_trip(self):
        schedule = self.make_schedule()
        serialized = keras.optimizers.schedules.serialize(schedule)
        self.assertEqual(serialized["registered_name"], "ssl_tf>WarmupCosine")
        restored = keras.optimizers.schedules.deserialize(serialized)
        self.assertIsInstance(restored, schedules.WarmupCosine)
        self.assertEqual(restored.get_config(), schedule.get_config())
        self.assertAllClose(restored(6), schedule(6))

    def test_from_config_round_trip(self):
        schedule = self.make_schedule()
        restored = schedules.WarmupCosine.from_config(schedule.get_config())
        self.assertEqual(restored.get_config(), schedule.get_config())

    @parameterized.named_parameters(
        ("zero_total", dict(total_steps=0), "`total_steps` must be positive"),
        ("long_warmup", dict(warmup_steps=11), "`warmup_steps` must be"),
        ("negative_warmup", dict(warmup_steps=-1), "`warmup_steps` must be"),
        ("negative_peak", dict(peak_learning_rate=-1.0), "`peak_learning"),
        ("negative_final", dict(final_learning_rate=-1.0), "`final_learning"),
    )
    def test_invalid_arguments(self, overrides, message):
        kwargs = dict(peak_learning_rate=1.0, total_steps=10, warmup_steps=2)
        kwargs.update(overrides)
        with self.assertRaisesRegex(ValueError, message):
            schedules.WarmupCosine(**kwargs)

    def test_error_names_the_received_value(self):
        with self.assertRaisesRegex(ValueError, "Received: total_steps=0"):
            schedules.WarmupCosine(1.0, total_steps=0)


class ScaledLearningRateTest(testing.TestCase):
    @parameterized.named_parameters(
        ("linear", 0.3, 512, "linear", 0.6),
        ("linear_small_batch", 0.3, 64, "linear", 0.075),
        ("sqrt", 0.075, 4096, "sqrt", 4.8),
        ("none", 0.3, 512, "none", 0.3),
    )
    def test_values(self, base_lr, batch_size, scaling, expected):
        value = schedules.scaled_learning_rate(base_lr, batch_size, scaling)
        self.assertIsInstance(value, float)
        self.assertAllClose(value, expected)

    def test_unknown_scaling(self):
        with self.assertRaisesRegex(ValueError, "Received: scaling='log'"):
            schedules.scaled_learning_rate(0.3, 256, "log")

    def test_non_positive_batch(self):
        with self.assertRaisesRegex(ValueError, "`global_batch_size` must"):
            schedules.scaled_learning_rate(0.3, 0, "linear")


if __name__ == "__main__":
    tf.test.main()
