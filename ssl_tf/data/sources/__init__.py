"""Image sources: one module per source, each registering itself.

Every source gives a `Source` (`ssl_tf.data.sources.base`): its records
before decoding, the decoder, and a `SourceInfo`; decoded elements are
`{"images": uint8 (S, S, 3)}`, plus `"labels"` (int64) when the source has
them. Grayscale images are expanded to RGB and everything is resized to
`image_size`, so the rest of the pipeline sees one format; `decode_original`
gives pretraining's crops the full-resolution image instead
(`DataConfig.crop_from`).

A new source is one new module of this package:

```python
@register_source("mysource")
def mysource(data_config, split, arrays=None) -> Source:
    \"\"\"One line for `--help` and the docs.\"\"\"
    ...
```
"""

from __future__ import annotations

from ssl_tf import registry
from ssl_tf.data.sources.arrays import open_arrays
from ssl_tf.data.sources.base import (
    DataError,
    Source,
    SourceInfo,
    SourceKind,
    command_line_sources,
    register_source,
    unregister_source,
)
from ssl_tf.data.sources.folder import (
    SPLIT_NAMES,
    ImageFolder,
    list_image_folder,
    open_folder,
)
from ssl_tf.data.sources.manifest import open_manifest
from ssl_tf.data.sources.tfds import open_tfds
from ssl_tf.data.sources.tfrecord import open_tfrecord


def open_source(data_config, split=None, arrays=None) -> Source:
    """The source named by a `DataConfig`, for `split` (default: train).

    Args:
        data_config: the `DataConfig`; `source` picks the registered source.
        split: the split to open (default: `data_config.split`).
        arrays: `(images, labels)` for the in-memory `arrays` source.

    Raises:
        ConfigError: for an unknown `data_config.source`.
        DataError: if the data cannot be used.
    """
    kind = registry.SOURCES.get(data_config.source)
    return kind.open(data_config, split or data_config.split, arrays)


def load_source(data_config, split=None, arrays=None):
    """`(decoded dataset, SourceInfo)` of `open_source(...)`."""
    return _loaded(open_source(data_config, split, arrays))


def _loaded(source):
    return source.dataset(), source.info


def load_arrays(images, labels=None, image_size=None):
    """`(dataset, info)` of `open_arrays`."""
    return _loaded(open_arrays(images, labels, image_size))


def load_folder(root, image_size, allow_conversion=False, split="train"):
    """`(dataset, info)` of `open_folder`."""
    return _loaded(open_folder(root, image_size, allow_conversion, split))


def load_manifest(
    path, image_size, allow_outside_root=False, allow_conversion=False
):
    """`(dataset, info)` of `open_manifest`."""
    return _loaded(
        open_manifest(path, image_size, allow_outside_root, allow_conversion)
    )


def load_tfds(name, split, image_size, data_dir=None):
    """`(dataset, info)` of `open_tfds`."""
    return _loaded(open_tfds(name, split, image_size, data_dir))


def load_tfrecord(pattern, image_size):
    """`(dataset, info)` of `open_tfrecord`."""
    return _loaded(open_tfrecord(pattern, image_size))


# Import every module of this package: each registers itself.
registry.import_submodules(__name__, __path__)

__all__ = [
    "SPLIT_NAMES",
    "DataError",
    "ImageFolder",
    "Source",
    "SourceInfo",
    "SourceKind",
    "command_line_sources",
    "list_image_folder",
    "load_arrays",
    "load_folder",
    "load_manifest",
    "load_source",
    "load_tfds",
    "load_tfrecord",
    "open_arrays",
    "open_folder",
    "open_manifest",
    "open_source",
    "open_tfds",
    "open_tfrecord",
    "register_source",
    "unregister_source",
]
