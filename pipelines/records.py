"""The metadata store's SQLite schema, and rows <-> artifacts/executions.

Parameters, input/output ids and properties are stored as JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from components import types

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_name TEXT NOT NULL, state TEXT NOT NULL,
    started REAL NOT NULL, ended REAL, host TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    component_id TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL,
    cache_key TEXT, parameters TEXT, inputs TEXT, outputs TEXT,
    code_version TEXT, started REAL, ended REAL, error TEXT);
CREATE INDEX IF NOT EXISTS executions_cache ON executions(cache_key, state);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL, uri TEXT NOT NULL, properties TEXT,
    state TEXT NOT NULL, producer INTEGER REFERENCES executions(id));
"""


def to_json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def ids(artifacts) -> dict[str, int]:
    return {key: a.id for key, a in artifacts.items() if a is not None}


def insert(db, table: str, **columns) -> int:
    """INSERT of one row (table and column names are literals in code)."""
    names, marks = ", ".join(columns), ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    return db.execute(sql, tuple(columns.values())).lastrowid


def insert_artifact(db, artifact) -> None:
    artifact.id = insert(
        db,
        "artifacts",
        type=artifact.TYPE_NAME,
        uri=artifact.uri,
        properties=to_json(artifact.properties),
        state=artifact.state,
        producer=artifact.producer,
    )


def update_artifact(db, artifact) -> None:
    db.execute(
        "UPDATE artifacts SET properties = ?, state = ?, producer = ? "
        "WHERE id = ?",
        (
            to_json(artifact.properties),
            artifact.state,
            artifact.producer,
            artifact.id,
        ),
    )


def decode_artifact(row) -> types.Artifact:
    record = dict(row)
    record["properties"] = json.loads(record["properties"] or "{}")
    if record["type"] in types.ARTIFACT_TYPES:
        return types.from_dict(record)
    # A type this process has not imported (e.g. when `ssl-tf pipeline show`
    # reads another pipeline's store): a plain Artifact keeping its name.
    artifact = types.from_dict({**record, "type": "Artifact"})
    artifact.TYPE_NAME = record["type"]
    return artifact


def decode_execution(row) -> dict[str, Any]:
    record = dict(row)
    for key in ("parameters", "inputs", "outputs"):
        record[key] = json.loads(record[key] or "{}")
    return record
