"""Decoded data held in host memory once: built, counted, shared.

`materialize` decodes a source into CPU variables, the only copy of the
data; `held` gives a dataset the variables to gather from, without a
further copy when there is one already on its device.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import tensorflow as tf

from ssl_tf.data.errors import DataError

# Rows decoded at a time by `materialize`.
MATERIALIZE_CHUNK = 1024


def materialize(dataset, num_examples):
    """All elements of a decoded dataset as CPU variables (one pass).

    The variables are the only copy of the data: every dataset built over
    them on the same CPU reads them directly (`held`). Building them
    holds the data twice at most (the decoded chunks and their
    concatenation, which the variable takes over without a copy); going
    through a NumPy array would hold it three times, and sharing a
    variable's buffer with a tensor makes its first gather copy it.

    Args:
        dataset: the decoded elements, dicts of tensors.
        num_examples: how many elements `dataset` holds.

    Returns:
        `{key: tf.Variable}`, each `(num_examples, ...)`, on the CPU of
        the current device scope.

    Raises:
        DataError: if `dataset` holds more or fewer elements than
            `num_examples` (decoding stops at the first chunk too many).
    """
    _collect_garbage()
    chunks, filled = {}, 0
    with tf.device("/device:CPU:0"):
        for chunk in dataset.batch(MATERIALIZE_CHUNK).prefetch(1):
            filled += len(next(iter(chunk.values())))
            if filled > num_examples:
                raise _count_error(num_examples, f"more than {num_examples}")
            for key, value in chunk.items():
                chunks.setdefault(key, []).append(value)
        if filled != num_examples:
            raise _count_error(num_examples, filled)
        # One key at a time, dropping its chunks: one key is held twice.
        return {
            key: tf.Variable(
                tf.concat(chunks.pop(key), axis=0),
                trainable=False,
                name=f"data_{key}",
            )
            for key in list(chunks)
        }


def _count_error(expected, found):
    return DataError(
        f"The source holds {found} images, but its info counts {expected}; "
        "it changed since it was opened (or its scan is stale). Open it "
        "again."
    )


def _collect_garbage():
    """Runs Python's cycle collector before data is copied into memory.

    Datasets dropped earlier (a previous run's, phase's or restart's) sit
    in reference cycles of their traced functions, which keep their
    variables' buffers until the collector runs: run it now, so their
    memory is reused rather than held next to the new copy.
    """
    gc.collect()


# Arrays of at least this many bytes are copied into a variable only
# after `_collect_garbage`.
COLLECT_BYTES = 1 << 20

# (id(array), device) -> the array as a variable on that device; an entry
# goes when its array does.
_HELD = {}


def held(arrays):
    """`arrays` as variables on the CPU of the current device scope.

    `materialize`'s variables on that CPU are used as they are. Other
    arrays (a source's `table`, a caller's NumPy arrays, variables of
    another host) are copied into a variable once an array and device,
    shared by every dataset built over the same array (a run's fit
    phases, restarts in one process); it goes when the array does. The
    arrays must not change after their first use. Variables, not
    constants: keeps large arrays out of the graph.

    A copied variable owns its buffer (no tensor shares it), so gathering
    from it does not copy it first; a variable read whole (a `Table`'s
    shared bytes) is read without a copy too.
    """
    # The CPU of the device scope this is built in: under
    # `distribute_datasets_from_function` the input pipeline's own host
    # (a partial spec merges with the enclosing one), not the client's.
    with tf.device("/device:CPU:0"):
        device = tf.zeros([]).device
        held = {}
        for key, value in arrays.items():
            cache_key = (id(value), device)
            variable = _HELD.get(cache_key)
            if isinstance(value, tf.Variable) and value.device == device:
                variable = value
            elif variable is None:
                if getattr(value, "nbytes", 0) >= COLLECT_BYTES:
                    _collect_garbage()
                variable = tf.Variable(
                    value, trainable=False, name=f"data_{key}"
                )
                # Only arrays can be referred to weakly (and so cached).
                if isinstance(value, np.ndarray):
                    _HELD[cache_key] = variable
                    weakref.finalize(value, _HELD.pop, cache_key, None)
            held[key] = variable
    return held
