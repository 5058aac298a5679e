"""`Embed`: a Beam DoFn loads the export once and embeds every example."""

import glob

import keras
import numpy as np
import tensorflow as tf

import ssl_tf
from components import (
    Embed,
    ImageExampleGen,
    OutputArtifact,
    component,
    testing,
)
from components.types import Model
from pipelines.local_runner import LocalDagRunner
from pipelines.pipeline import Pipeline


@component
def TinyEncoder(model: OutputArtifact[Model]) -> None:
    encoder = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(
                4, 3, kernel_initializer=keras.initializers.GlorotUniform(0)
            ),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    ssl_tf.export_encoder(encoder, model.uri, image_size=8)


def _read(pattern):
    rows = []
    for record in tf.data.TFRecordDataset(sorted(glob.glob(pattern))):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append(
            (
                feature["label"].int64_list.value[0],
                np.array(feature["embedding"].float_list.value, np.float32),
            )
        )
    return rows


def test_embeds_every_example_with_one_load(tmp_path, monkeypatch):
    data = str(tmp_path / "images")
    good = testing.write_image_folder(data, {"train": 3, "test": 1})
    loads = []
    load_encoder = ssl_tf.load_encoder

    def counting_load(path, *args):
        loads.append(path)
        return load_encoder(path, *args)

    monkeypatch.setattr(ssl_tf, "load_encoder", counting_load)
    importer = ImageExampleGen(input_base=data)
    encoder = TinyEncoder()
    embed = Embed(
        examples=importer.outputs["examples"],
        model=encoder.outputs["model"],
        splits="train",
        batch_size=2,
    )
    pipeline = Pipeline(
        "embed", str(tmp_path / "root"), [importer, encoder, embed]
    )
    outputs = LocalDagRunner().run(pipeline)

    embeddings = outputs["Embed"]["embeddings"]
    assert embeddings.properties["split_names"] == ["train"]
    rows = _read(embeddings.file_pattern("train"))
    assert len(rows) == len(good["train"]) == 6
    # One load per DoFn instance (DirectRunner: one), not one per batch.
    assert len(loads) == 1

    # Same vectors as embedding the files directly, matched by label.
    loaded = load_encoder(outputs["TinyEncoder"]["model"].uri)
    for label in (0, 1):
        paths = [p for p, y in good["train"] if y == label]
        batch = tf.stack(
            [ssl_tf.data.decode_image(tf.io.read_file(p), 8) for p in paths]
        )
        expected = np.sort(loaded.embed(batch), axis=0)
        got = np.sort(np.stack([e for y, e in rows if y == label]), axis=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
