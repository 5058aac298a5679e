"""`ImageExampleGen` on Beam's DirectRunner: good images in, bad files named,
splits by a hash worked out here by hand."""

import glob
import hashlib
import io
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

import ssl_tf
from components import ImageExampleGen, example_gen, example_inputs
from components.types import Examples

TFDS_DIR = "/work/shared/tfds"
MULTI_PROCESSING = [
    "--direct_num_workers=2",
    "--direct_running_mode=multi_processing",
]


def _png(pixels):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _write(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _planted_folder(root):
    """Good images (rel -> (pixels or None, label)) and bad files (rel ->
    reason) in class folders `cats` (0) and `dogs` (1)."""
    rng = np.random.default_rng(0)
    good = {}
    for index in range(5):
        for label, name in enumerate(("cats", "dogs")):
            shape = (6 + index, 9 + 2 * label, 3)
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            good[f"{name}/{index}.png"] = (pixels, label)
    good["dogs/deep/nested.png"] = (good["dogs/0.png"][0][:5], 1)
    grey = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    good["cats/grey.png"] = (grey, 0)
    for rel, (pixels, _) in good.items():
        _write(root, rel, _png(pixels))
    cmyk = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (8, 4, 4), np.uint8), "CMYK").save(
        cmyk, "JPEG"
    )
    _write(root, "dogs/cmyk.jpg", cmyk.getvalue())
    good["dogs/cmyk.jpg"] = (None, 1)  # lossy: compared by its bytes
    _write(root, "cats/notes.txt", b"not listed: not an image name")
    bad = {
        "cats/truncated.png": "truncated PNG",
        "dogs/text.jpg": "not an image (unknown header)",
    }
    whole = _png(good["cats/0.png"][0])
    _write(root, "cats/truncated.png", whole[: len(whole) // 2])
    _write(root, "dogs/text.jpg", b"hello, I am text")
    return good, bad


def _read_split(examples, split):
    rows = {}
    files = sorted(glob.glob(examples.file_pattern(split)))
    for record in tf.data.TFRecordDataset(files):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        row = {
            k: feature[k].bytes_list.value[0] for k in ("image", "key", "path")
        }
        row.update(
            {
                k: feature[k].int64_list.value[0]
                for k in ("label", "height", "width")
            }
        )
        rows[row["key"].decode()] = row
    return rows


def _hand_split(rel, buckets=(8, 2), names=("train", "eval")):
    bucket = int(hashlib.sha256(rel.encode()).hexdigest(), 16) % sum(buckets)
    return names[0] if bucket < buckets[0] else names[1]


def _run(tmp_path, name, args=(), **parameters):
    examples = Examples(str(tmp_path / name))
    os.makedirs(examples.uri)
    pipeline = beam.Pipeline(options=PipelineOptions(list(args)))
    out = example_gen.run(examples, pipeline, **parameters)
    counters = out["result"].metrics().query(MetricsFilter())["counters"]
    counts = {c.key.metric.name: c.committed for c in counters}
    return examples, out["report"], counts


def _splits_of(examples):
    return {
        key: split
        for split in examples.split_names
        for key in _read_split(examples, split)
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("planted") / "images")
    good, bad = _planted_folder(root)
    return root, good, bad


def test_folder_gives_exactly_the_good_images(planted, tmp_path):
    root, good, bad = planted
    examples, report, counts = _run(tmp_path, "a", input_base=root)

    assert examples.split_names == ["train", "eval"]
    rows = {}
    for split in ("train", "eval"):
        for key, row in _read_split(examples, split).items():
            rel = os.path.relpath(row["path"].decode(), root)
            assert split == _hand_split(rel), rel
            rows[rel] = row
            assert key == hashlib.sha256(rel.encode()).hexdigest()
    assert sorted(rows) == sorted(good)
    for rel, (pixels, label) in good.items():
        row = rows[rel]
        with open(os.path.join(root, rel), "rb") as handle:
            assert row["image"] == handle.read()
        assert row["label"] == label
        if pixels is not None:
            decoded = np.asarray(Image.open(io.BytesIO(row["image"])))
            np.testing.assert_array_equal(decoded, pixels)
            assert (row["height"], row["width"]) == pixels.shape[:2]
    cmyk = rows["dogs/cmyk.jpg"]
    assert (cmyk["height"], cmyk["width"]) == (8, 4)

    assert counts["bad_files"] == len(bad) == report["num_skipped"]
    assert counts["examples"] == len(good)
    with open(os.path.join(examples.uri, example_gen.SKIPPED_FILE)) as handle:
        skipped = [json.loads(line) for line in handle]
    assert {
        os.path.relpath(r["path"], root): r["reason"] for r in skipped
    } == bad
    assert report["class_names"] == ["cats", "dogs"]
    assert report["skip_counts"] == {
        "truncated PNG": 1,
        "not an image": 1,
    }
    for split in ("train", "eval"):
        expected = [rel for rel in good if _hand_split(rel) == split]
        stats = report["statistics"][split]
        assert stats["num_examples"] == len(expected)
        names = [rel.split("/")[0] for rel in expected]
        assert stats["labels"] == {
            n: names.count(n) for n in sorted(set(names))
        }
        heights = [rows[rel]["height"] for rel in expected]
        buckets = [1 << (h.bit_length() - 1) for h in heights]
        assert stats["height"] == {
            str(b): buckets.count(b) for b in sorted(set(buckets))
        }
    assert examples.properties["fingerprint"]["num_files"] == len(good) + 3
    assert examples.properties["num_examples"] == report["num_examples"]


def test_split_is_the_same_across_runs(planted, tmp_path):
    root, _, _ = planted
    first, _, _ = _run(tmp_path, "a", input_base=root, num_shards=2)
    again, _, _ = _run(tmp_path, "b", input_base=root, num_shards=2)
    assert _splits_of(first) == _splits_of(again)
    assert len(glob.glob(again.file_pattern("train"))) == 2


def test_multi_processing_workers_give_the_same_examples(planted, tmp_path):
    # In-process runs match the hand-computed split (test above); two
    # worker processes must too, with the same counter and the same bytes.
    root, good, bad = planted
    examples, report, counts = _run(
        tmp_path, "a", MULTI_PROCESSING, input_base=root, num_shards=2
    )
    rows = {
        row["path"].decode(): (split, row["image"])
        for split in ("train", "eval")
        for row in _read_split(examples, split).values()
    }
    expected = {}
    for rel in good:
        with open(os.path.join(root, rel), "rb") as handle:
            expected[os.path.join(root, rel)] = (
                _hand_split(rel),
                handle.read(),
            )
    assert rows == expected
    assert counts["bad_files"] == len(bad) == report["num_skipped"]


def test_content_partition_key(planted, tmp_path):
    root, good, _ = planted
    config = {
        "split_config": {
            "splits": [
                {"name": "train", "hash_buckets": 1},
                {"name": "test", "hash_buckets": 1},
            ]
        }
    }
    examples, _, _ = _run(
        tmp_path,
        "a",
        input_base=root,
        partition_key="content",
        output_config=json.dumps(config),
    )
    for split in ("train", "test"):
        for row in _read_split(examples, split).values():
            content = hashlib.sha256(row["image"]).hexdigest().encode()
            bucket = int(hashlib.sha256(content).hexdigest(), 16) % 2
            assert split == ("train", "test")[bucket]


def test_split_folders_are_kept_with_shared_labels(tmp_path):
    root = str(tmp_path / "images")
    pixels = np.zeros((4, 4, 3), np.uint8)
    # test lacks class a; a loose file beside classes is left out; val has
    # no class folders (unlabeled); class b nests deeper, in upper case.
    for rel in (
        "train/a/0.png",
        "train/b/deep/0.PNG",
        "test/b/1.png",
        "test/x.png",
        "val/v.png",
    ):
        _write(root, rel, _png(pixels))
    examples, report, _ = _run(tmp_path, "out", input_base=root)
    assert sorted(examples.split_names) == ["test", "train", "val"]
    labels = {
        s: sorted(r["label"] for r in _read_split(examples, s).values())
        for s in examples.split_names
    }
    assert labels == {"train": [0, 1], "test": [1], "val": [-1]}
    # The library's listing of the same folder agrees.
    listing = ssl_tf.data.list_image_folder(root)
    assert {
        s: sorted(
            [-1] * len(f.paths) if f.labels is None else f.labels.tolist()
        )
        for s, f in listing.splits.items()
    } == labels
    assert report["splits"]["hash_buckets"] is None


def test_a_split_that_would_be_empty_is_refused_before_work(tmp_path):
    root = str(tmp_path / "images")
    _write(root, "train/a/0.png", _png(np.zeros((4, 4, 3), np.uint8)))
    examples = Examples(str(tmp_path / "out"))
    with pytest.raises(ValueError, match=r"Required split\(s\) \['test'\]"):
        example_gen.run(examples, input_base=root, required_splits="train,test")
    zero = {"split_config": {"splits": [{"name": "eval", "hash_buckets": 0}]}}
    flat = str(tmp_path / "images" / "train")
    with pytest.raises(ValueError, match="Split 'eval' has hash_buckets=0"):
        example_gen.run(
            examples, input_base=flat, output_config=json.dumps(zero)
        )
    assert not os.path.exists(examples.uri)


def test_split_plans_are_checked_without_beam():
    flat = example_inputs.InputPlan("folder", "/d", ("train",))
    assert example_gen.plan_splits(flat, "", "train,test|eval") == (
        ["train", "eval"],
        [8, 2],
    )
    with pytest.raises(ValueError, match="must be TFX Output JSON"):
        example_gen.plan_splits(flat, '{"splits": []}', "")
    with pytest.raises(ValueError, match="must be unique"):
        config = {
            "split_config": {"splits": [{"name": "a", "hash_buckets": 1}] * 2}
        }
        example_gen.plan_splits(flat, json.dumps(config), "")
    kept = example_inputs.InputPlan("folder", "/d", ("train", "val"))
    assert example_gen.plan_splits(kept, "", "train") == (
        ["train", "val"],
        None,
    )
    with pytest.raises(ValueError, match=r"\['test\|eval'\] would be empty"):
        example_gen.plan_splits(kept, "", "train,test|eval")


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_manifest_input(planted, tmp_path, suffix):
    root, good, _ = planted
    rels = ["cats/0.png", "dogs/1.png", "dogs/missing.png", "dogs/text.jpg"]
    manifest = os.path.join(root, f"list.{suffix}")
    with open(manifest, "w") as handle:
        if suffix == "csv":
            handle.write("path,label\n")
            handle.writelines(f"{r},{r.split('/')[0]}\n" for r in rels)
        else:
            handle.writelines(
                json.dumps({"path": r, "label": i}) + "\n"
                for i, r in enumerate(rels)
            )
    one = {"split_config": {"splits": [{"name": "train", "hash_buckets": 1}]}}
    examples, report, counts = _run(
        tmp_path, "a", input_base=manifest, output_config=json.dumps(one)
    )
    rows = _read_split(examples, "train")
    by_path = {r["path"].decode(): r for r in rows.values()}
    # CSV: class names, numbered in sorted order; JSONL: integers as given.
    expected_labels = {"cats/0.png": 0, "dogs/1.png": 1}
    assert {
        os.path.relpath(p, root): r["label"] for p, r in by_path.items()
    } == expected_labels
    for rel in expected_labels:
        row = by_path[os.path.join(root, rel)]
        assert row["key"].decode() == hashlib.sha256(rel.encode()).hexdigest()
        np.testing.assert_array_equal(
            np.asarray(Image.open(io.BytesIO(row["image"]))), good[rel][0]
        )
    assert counts["bad_files"] == 2
    assert report["skip_counts"] == {"missing file": 1, "not an image": 1}
    classes = ["cats", "dogs"] if suffix == "csv" else []
    assert report["class_names"] == classes


def test_tfds_input_equals_tfds_load(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    one = {"split_config": {"splits": [{"name": "train", "hash_buckets": 1}]}}
    examples, report, _ = _run(
        tmp_path,
        "a",
        tfds_name="cifar10",
        tfds_split="train[:40]",
        tfds_data_dir=TFDS_DIR,
        output_config=json.dumps(one),
        num_shards=2,
    )
    rows = {
        r["path"].decode().rsplit("/", 1)[1]: r
        for r in _read_split(examples, "train").values()
    }
    reference = tfds.load(
        "cifar10",
        split="train[:40]",
        data_dir=TFDS_DIR,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    expected = {
        e["id"].decode(): (e["image"], int(e["label"]))
        for e in reference.as_numpy_iterator()
    }
    assert len(rows) == len(expected) == 40
    for name, (image, label) in expected.items():
        assert rows[name]["image"] == image
        assert rows[name]["label"] == label
        assert (rows[name]["height"], rows[name]["width"]) == (32, 32)
    assert report["class_names"][:2] == ["airplane", "automobile"]
    assert report["fingerprint"]["num_files"] >= 2


def test_fingerprint_notices_touched_and_replaced_files(tmp_path):
    root = str(tmp_path / "images")
    path = _write(root, "a/0.png", _png(np.zeros((4, 4, 3), np.uint8)))
    _write(root, "b/0.png", _png(np.ones((4, 4, 3), np.uint8)))

    def fingerprint(name):
        scratch = str(tmp_path / name)
        return example_gen.input_fingerprint(scratch, input_base=root)

    first = fingerprint("f1")
    assert first["num_files"] == 2
    assert first["total_bytes"] == sum(
        os.path.getsize(p) for p in glob.glob(f"{root}/*/*")
    )
    assert fingerprint("f2") == first
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    touched = fingerprint("f3")
    assert touched["hash"] != first["hash"]
    assert touched["total_bytes"] == first["total_bytes"]
    _write(root, "a/0.png", _png(np.full((4, 4, 3), 9, np.uint8)))
    assert fingerprint("f4")["hash"] not in (first["hash"], touched["hash"])


def test_component_runs_without_a_beam_pipeline(tmp_path):
    root = str(tmp_path / "images")
    for rel in ("train/a/0.png", "test/a/1.png"):
        _write(root, rel, _png(np.zeros((4, 4, 3), np.uint8)))
    examples = Examples(str(tmp_path / "out"))
    ImageExampleGen.EXECUTOR(examples=examples, input_base=root)
    assert examples.properties["num_examples"] == {"train": 1, "test": 1}
    with open(os.path.join(examples.uri, example_gen.REPORT_FILE)) as handle:
        assert json.load(handle)["num_examples"] == {"train": 1, "test": 1}
    # A runner can compute the recorded fingerprint before running.
    scratch = str(tmp_path / "scratch")
    assert (
        example_gen.input_fingerprint(scratch, input_base=root)
        == examples.properties["fingerprint"]
    )
