"""`ImportExamples` on Beam's DirectRunner: good files in, bad files named."""

import glob
import json
import os

import pytest
import tensorflow as tf

from components import ImportExamples, image_folder, testing
from pipelines.local_runner import LocalDagRunner
from pipelines.pipeline import Pipeline


def _read_examples(pattern):
    records = tf.data.TFRecordDataset(sorted(glob.glob(pattern)))
    rows = []
    for record in records:
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append(
            (
                feature["image"].bytes_list.value[0],
                feature["label"].int64_list.value[0],
            )
        )
    return rows


def _run(tmp_path, input_base, **kwargs):
    node = ImportExamples(input_base=input_base, **kwargs)
    pipeline = Pipeline("import", str(tmp_path / "root"), [node])
    return LocalDagRunner().run(pipeline)["ImportExamples"]["examples"]


def test_writes_good_images_and_reports_bad_files(tmp_path):
    data = str(tmp_path / "images")
    good = testing.write_image_folder(data, {"": 3})[""]
    examples = _run(tmp_path, data, num_shards=2)

    assert examples.split_names == ["train"]
    shards = sorted(glob.glob(examples.file_pattern("train")))
    assert [os.path.basename(s) for s in shards] == [
        "data-00000-of-00002.tfrecord",
        "data-00001-of-00002.tfrecord",
    ]
    rows = _read_examples(examples.file_pattern("train"))
    assert len(rows) == len(good) == 6
    expected = set()
    for path, label in good:
        with open(path, "rb") as handle:
            expected.add((handle.read(), label))
    assert set(rows) == expected

    with open(os.path.join(examples.uri, image_folder.REPORT_FILE)) as handle:
        report = json.load(handle)
    skipped = {
        os.path.basename(r["path"]): r["reason"] for r in report["skipped"]
    }
    assert skipped == {
        "empty.jpg": "empty file",
        "text.png": "not an image (unknown header)",
    }
    assert report["num_examples"] == {"train": 6}
    assert examples.properties["num_skipped"] == 2
    assert examples.properties["class_names"] == ["blue", "red"]
    with open(os.path.join(examples.uri, image_folder.SKIPPED_FILE)) as handle:
        assert len(handle.readlines()) == 2


def test_split_folders_share_labels(tmp_path):
    data = str(tmp_path / "images")
    testing.write_image_folder(data, {"train": 2, "test": 1}, bad_split=None)
    splits, classes = image_folder.list_image_folder(data)
    assert classes == ("blue", "red")
    assert {
        s: sorted(label for _, label in files) for s, files in splits.items()
    } == {
        "test": [0, 1],
        "train": [0, 0, 1, 1],
    }
    os.makedirs(os.path.join(data, "extra"))
    with pytest.raises(ValueError, match="mixes split folders"):
        image_folder.list_image_folder(data)


def test_split_without_usable_images_fails(tmp_path):
    data = tmp_path / "images"
    (data / "cats").mkdir(parents=True)
    (data / "cats" / "empty.jpg").write_bytes(b"")
    with pytest.raises(
        ValueError, match="No usable images in splits \\['train'\\]"
    ):
        _run(tmp_path, str(data))
