"""`MetadataStore`: pipeline runs, executions and artifacts in SQLite.

A small stand-in for ML Metadata. The file is `<pipeline_root>/metadata.
sqlite`; SQLite needs a local file system, so for a remote root (`gs://...`)
it lives in `~/.cache/ssl_tf/metadata/<hash of the root>/` instead, and every
runner of that root on this machine shares it.

Several runners may share one store: the database is in WAL mode, every
write is one `BEGIN IMMEDIATE` transaction (one writer at a time, others
wait up to `timeout` seconds), and ids come from `AUTOINCREMENT`, so two
runners never get the same id.

Reference:
 - [ML Metadata](https://www.tensorflow.org/tfx/guide/mlmd)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import time
from typing import Any

from components.types import Artifact
from pipelines import records

METADATA_FILE = "metadata.sqlite"
EXECUTION_STATES = ("pending", "running", "complete", "failed", "cached")


def store_path(pipeline_root: str) -> str:
    """Where the SQLite file of `pipeline_root` lives (see module doc)."""
    if "://" not in pipeline_root:
        return os.path.join(pipeline_root, METADATA_FILE)
    digest = hashlib.sha256(pipeline_root.encode()).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".cache", "ssl_tf")
    return os.path.join(cache, "metadata", digest, METADATA_FILE)


def _process_alive(host: str, pid: int) -> bool:
    """False only when `pid` on this host is certainly gone (another
    machine's runner cannot be checked, so it counts as alive)."""
    if pid is None or pid <= 0:
        return False  # Not a process id (os.kill would signal a group).
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Alive, someone else's.
    return True


def _set_wal(db, timeout: float) -> None:
    """`journal_mode = WAL`, retried: switching a new file to WAL needs it
    alone, and SQLite answers "database is locked" at once, without its
    busy handler, while another runner opens the same file (seen in CI)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class MetadataStore:
    """Runs, executions and artifacts of one pipeline root.

    Args:
        pipeline_root: the root the pipeline writes under.
        timeout: seconds to wait for another runner's transaction.
    """

    def __init__(self, pipeline_root: str, timeout: float = 60.0):
        self.path = store_path(pipeline_root)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        # isolation_level=None: transactions are opened explicitly below.
        self._db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        _set_wal(self._db, timeout)
        with self.transaction() as db:
            # One statement at a time: `executescript` would commit first.
            for statement in records.SCHEMA.split(";")[:-1]:
                db.execute(statement)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction: `BEGIN IMMEDIATE` takes the write lock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _query(self, sql: str, *args) -> list[sqlite3.Row]:
        return self._db.execute(sql, args).fetchall()

    # Runs.

    def start_run(self, pipeline_name: str) -> int:
        """Records a running pipeline run of this process; returns its id."""
        with self.transaction() as db:
            return records.insert(
                db,
                "runs",
                pipeline_name=pipeline_name,
                state="running",
                started=time.time(),
                host=socket.gethostname(),
                pid=os.getpid(),
            )

    def end_run(self, run_id: int, state: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET state = ?, ended = ? WHERE id = ?",
                (state, time.time(), run_id),
            )

    def fail_stale_runs(self) -> list[int]:
        """Marks runs whose process died (killed, crashed) failed.

        Their unfinished executions and pending artifacts become `failed`,
        so the next run executes those nodes again. Returns the run ids.
        """
        unfinished = "run_id = ? AND state IN ('pending', 'running')"
        stale = []
        with self.transaction() as db:
            for run in db.execute(
                "SELECT id, host, pid FROM runs WHERE state = 'running'"
            ).fetchall():
                if _process_alive(run["host"], run["pid"]):
                    continue
                stale.append(run["id"])
                db.execute(
                    "UPDATE artifacts SET state = 'failed' WHERE state = "
                    "'pending' AND producer IN (SELECT id FROM executions "
                    f"WHERE {unfinished})",
                    (run["id"],),
                )
                db.execute(
                    "UPDATE executions SET state = 'failed', error = ?, "
                    f"ended = ? WHERE {unfinished}",
                    (
                        f"runner {run['host']}:{run['pid']} is gone",
                        time.time(),
                        run["id"],
                    ),
                )
                db.execute(
                    "UPDATE runs SET state = 'failed', ended = ? WHERE id = ?",
                    (time.time(), run["id"]),
                )
        return stale

    def runs(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._query("SELECT * FROM runs")]

    # Executions.

    def start_execution(
        self,
        run_id: int,
        node,
        cache_key: str | None,
        code_version: str,
        inputs: dict,
        outputs: dict,
        state: str = "running",
    ) -> int | None:
        """Records an execution of `node`; returns its id.

        Outputs without an id are new: they are recorded, pending, with
        this execution as producer, in the same transaction. A `running`
        execution is not recorded (None is returned) while another run is
        running one with the same cache key: it writes the same outputs.
        """
        with self.transaction() as db:
            if (
                state == "running"
                and db.execute(
                    "SELECT 1 FROM executions WHERE cache_key = ? AND state = "
                    "'running' AND run_id != ?",
                    (cache_key, run_id),
                ).fetchall()
            ):
                return None
            execution_id = records.insert(
                db,
                "executions",
                run_id=run_id,
                component_id=node.id,
                type=type(node).__name__,
                state=state,
                cache_key=cache_key,
                parameters=records.to_json(node.exec_properties),
                inputs=records.to_json(records.ids(inputs)),
                code_version=code_version,
                started=time.time(),
            )
            for artifact in outputs.values():
                if artifact is not None and artifact.id is None:
                    artifact.producer = execution_id
                    records.insert_artifact(db, artifact)
            db.execute(
                "UPDATE executions SET outputs = ? WHERE id = ?",
                (records.to_json(records.ids(outputs)), execution_id),
            )
        return execution_id

    def finish_execution(
        self, execution_id: int, state: str, outputs=None, error=None
    ) -> None:
        """Ends an execution and the outputs it produced.

        Its own outputs (`producer` is this execution) become live when it
        is complete and failed otherwise; reused ones (a cached execution's,
        a resolver's) are only referenced.
        """
        if state not in EXECUTION_STATES:
            raise ValueError(f"Unknown execution state {state!r}.")
        outputs = outputs or {}
        with self.transaction() as db:
            db.execute(
                "UPDATE executions SET state = ?, error = ?, ended = ? "
                "WHERE id = ?",
                (state, error, time.time(), execution_id),
            )
            for artifact in outputs.values():
                if artifact is not None and artifact.producer == execution_id:
                    artifact.state = "live" if state == "complete" else "failed"
                    records.update_artifact(db, artifact)

    def execution(self, execution_id: int) -> dict[str, Any]:
        (row,) = self._query(
            "SELECT * FROM executions WHERE id = ?", execution_id
        )
        return records.decode_execution(row)

    def executions(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Executions of one run (or all), oldest first."""
        rows = self._query(
            "SELECT * FROM executions WHERE ? IS NULL OR run_id = ? "
            "ORDER BY id",
            run_id,
            run_id,
        )
        return [records.decode_execution(row) for row in rows]

    def last_complete(self, cache_key: str) -> dict[str, Any] | None:
        """The newest complete execution with `cache_key`, or None."""
        rows = self._query(
            "SELECT * FROM executions WHERE cache_key = ? AND state = "
            "'complete' ORDER BY id DESC LIMIT 1",
            cache_key,
        )
        return records.decode_execution(rows[0]) if rows else None

    # Artifacts.

    def artifact(self, artifact_id: int) -> Artifact:
        (row,) = self._query(
            "SELECT * FROM artifacts WHERE id = ?", artifact_id
        )
        return records.decode_artifact(row)

    def artifacts(
        self, type_name: str, state: str = "live", pipeline_name=None
    ) -> list[Artifact]:
        """Artifacts of one type and state, newest first, optionally only
        those a run of `pipeline_name` produced."""
        sql = (
            "SELECT a.* FROM artifacts a JOIN executions e ON a.producer = "
            "e.id JOIN runs r ON e.run_id = r.id WHERE a.type = ? AND "
            "a.state = ? AND (? IS NULL OR r.pipeline_name = ?) "
            "ORDER BY a.id DESC"
        )
        rows = self._query(sql, type_name, state, pipeline_name, pipeline_name)
        return [records.decode_artifact(row) for row in rows]
