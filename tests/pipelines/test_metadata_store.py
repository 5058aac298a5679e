"""`MetadataStore`: where it lives, transactions, two runners on one root."""

import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys

import fakes
import pytest

from components.types import Examples
from pipelines import metadata
from pipelines.metadata import MetadataStore


def test_store_path_local_and_remote(tmp_path, monkeypatch):
    assert metadata.store_path("/data/root") == "/data/root/metadata.sqlite"
    monkeypatch.setenv("HOME", str(tmp_path))
    remote = metadata.store_path("gs://bucket/root")
    other = metadata.store_path("gs://bucket/root2")
    assert remote.startswith(str(tmp_path / ".cache" / "ssl_tf" / "metadata"))
    assert remote.endswith("metadata.sqlite") and remote != other
    assert remote == metadata.store_path("gs://bucket/root")


def test_wal_mode_and_rollback(tmp_path):
    store = MetadataStore(str(tmp_path))
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    run_id = store.start_run("p")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("UPDATE runs SET state = 'complete' WHERE id = ?", (run_id,))
        raise RuntimeError("abort")
    assert [r["state"] for r in store.runs()] == ["running"]
    # AUTOINCREMENT: a deleted id is never handed out again.
    with store.transaction() as db:
        db.execute("DELETE FROM runs")
    assert store.start_run("p") == run_id + 1
    store.close()


def test_artifact_round_trip_through_the_store(tmp_path):
    store = MetadataStore(str(tmp_path))
    run_id = store.start_run("p")
    node = fakes.Source(input_file="x")
    examples = Examples("u", {"fingerprint": "f", "split_names": ["train"]})
    execution_id = store.start_execution(
        run_id, node, "k", "v", {}, {"examples": examples}
    )
    assert (examples.id, examples.state) == (1, "pending")
    assert examples.producer == execution_id
    store.finish_execution(execution_id, "complete", {"examples": examples})
    loaded = store.artifact(examples.id)
    assert type(loaded) is Examples
    assert loaded.to_dict() == {**examples.to_dict(), "state": "live"}
    assert store.last_complete("k")["outputs"] == {"examples": 1}
    with pytest.raises(ValueError, match="Unknown execution state"):
        store.finish_execution(execution_id, "done")
    store.close()


def test_two_runners_on_one_root(tmp_path):
    """Two processes run three pipelines each on one root at once."""
    root = str(tmp_path / "root")
    context = multiprocessing.get_context("spawn")
    processes = []
    for name in ("a", "b"):
        input_file = tmp_path / f"{name}.txt"
        input_file.write_text(name)
        processes.append(
            context.Process(
                target=fakes.run_many, args=(root, str(input_file), name, 3)
            )
        )
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]
    store = MetadataStore(root)
    runs = store.runs()
    names = [r["pipeline_name"] for r in runs]
    assert sorted(set(names)) == ["a", "a-burst", "b", "b-burst"]
    assert [names.count(n) for n in ("a", "b", "a-burst", "b-burst")] == [
        3,
        3,
        50,
        50,
    ]
    assert [r["id"] for r in runs] == list(range(1, 107))
    assert {r["state"] for r in runs} == {"complete"}
    executions = store.executions()
    # 4 nodes a run; the first run of each runs all, the next two re-run
    # Train, Judge and Push (one more step) and take Source from the cache.
    assert [e["id"] for e in executions] == list(range(1, 25))
    states = [e["state"] for e in executions]
    assert (states.count("complete"), states.count("cached")) == (20, 4)
    rows = store._db.execute("SELECT id, producer FROM artifacts").fetchall()
    assert [row[0] for row in rows] == list(range(1, 21))
    produced = {
        artifact_id: e["id"]
        for e in executions
        if e["state"] == "complete"
        for artifact_id in e["outputs"].values()
    }
    assert {row[0]: row[1] for row in rows} == produced
    store.close()
    # The file is one consistent SQLite database.
    with sqlite3.connect(os.path.join(root, "metadata.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_two_runners_of_one_pipeline_execute_each_node_once(
    tmp_path, monkeypatch
):
    """The second runner waits for the first instead of writing the same
    output directories at the same time, then reuses its outputs."""
    root = str(tmp_path / "root")
    input_file = tmp_path / "input.txt"
    input_file.write_text("same")
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_SLEEP", "1.5")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=fakes.run_many, args=(root, str(input_file), "same", 1)
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]
    assert sorted(calls.read_text().split()) == sorted(fakes.ORDER)
    store = MetadataStore(root)
    states = [e["state"] for e in store.executions()]
    assert (states.count("complete"), states.count("cached")) == (4, 4)
    store.close()


def test_process_alive():
    host = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert metadata._process_alive(host, os.getpid())
    assert not metadata._process_alive(host, finished.pid)
    # -1 and 0 are process groups to os.kill, never a runner.
    assert not metadata._process_alive(host, -1)
    assert not metadata._process_alive(host, 0)
    assert metadata._process_alive("another-host", finished.pid)
