"""A MirroredStrategy over 2 logical CPUs that is safe to build repeatedly."""

import itertools

import tensorflow as tf

_KEY_BASES = itertools.count(71_000, 1_000)


def mirrored_strategy(devices=("/cpu:0", "/cpu:1")):
    """A MirroredStrategy whose collectives use their own instance keys.

    Every MirroredStrategy numbers its collective ops from the same keys,
    and TensorFlow remembers each key's shape and type for the whole
    process, so a later strategy running different collectives under the
    same keys fails ("Shape mismatch in the collective instance 100"). A
    distinct key base per strategy, as TensorFlow's own tests use, keeps
    distributed tests independent of each other.
    """
    cls = tf.distribute.MirroredStrategy
    previous = cls._collective_key_base
    cls._collective_key_base = next(_KEY_BASES)
    try:
        return cls(list(devices))
    finally:
        cls._collective_key_base = previous
