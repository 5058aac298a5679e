"""`ssl-tf pipeline run | list | show` on the fake pipeline."""

import json
import logging
import re

import fakes
import pytest

from ssl_tf import cli

PIPELINE_FILE = """
import json, os
import fakes

def create_pipeline(pipeline_root, beam_pipeline_args=None, steps=3):
    beam = beam_pipeline_args
    with open(os.path.join({tmp!r}, "beam.json"), "w") as handle:
        json.dump(beam, handle)
    return fakes.make_pipeline(
        pipeline_root, {data!r}, "cli", steps, beam_pipeline_args=beam
    )
"""


@pytest.fixture
def pipeline_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_CRASH", raising=False)
    monkeypatch.delenv("SSL_TF_PIPELINE_ROOT", raising=False)
    data = tmp_path / "input.txt"
    data.write_text("hello")
    path = tmp_path / "toy_pipeline.py"
    path.write_text(PIPELINE_FILE.format(tmp=str(tmp_path), data=str(data)))
    return str(path), str(tmp_path / "root"), str(data)


def _main(capsys, *argv):
    assert cli.main(["pipeline", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_run_twice_list_and_show(pipeline_file, capsys, tmp_path):
    path, root, data = pipeline_file
    beam = ["--direct_num_workers=2", "--direct_running_mode", "in_memory"]
    lines = _main(capsys, "run", path, "--pipeline-root", root, *beam)
    with open(tmp_path / "beam.json") as handle:
        assert json.load(handle) == beam
    assert [line.split()[:4:3] for line in lines[:4]] == [
        [name, "run"] for name in ("Source", "Train", "Judge", "Push")
    ]
    assert len(lines) == 5 and lines[4].startswith("Run 1 of cli complete")
    lines = _main(capsys, "run", path, "--pipeline-root", root)
    assert [line.split()[3] for line in lines[:4]] == ["cached"] * 4

    # A name=value argument of create_pipeline, typed by its default.
    lines = _main(capsys, "run", path, "--pipeline-root", root, "steps=4")
    assert [line.split()[3] for line in lines[:4]] == ["cached"] + ["run"] * 3
    listing = _main(capsys, "list", "--pipeline-root", root)
    assert [re.split(r"\s+", line.strip())[:3] for line in listing] == [
        [str(run), "cli", "complete"] for run in (1, 2, 3)
    ]
    assert listing[0].endswith("4 run, 0 cached")
    assert listing[1].endswith("0 run, 4 cached")
    assert listing[2].endswith("3 run, 1 cached")

    show = "\n".join(_main(capsys, "show", "2", "--pipeline-root", root))
    assert show.startswith("Run 2 of cli: complete")
    assert "execution #8 Push (Push) cached" in show
    lineage = show[show.index("Lineage:") :]
    fingerprint = json.dumps({"fingerprint": fakes.file_fingerprint(data)})
    for expected in (
        "PushedModel #4 [live]",
        "<- Push execution #4 (run 1)",
        "<- Train execution #2 (run 1) steps=3",
        f"Examples #1 [live] {root}/Source/examples/",
        fingerprint,
        f"<- Source execution #1 (run 1) input_file={data}",
        '{"blessed": true}',
    ):
        assert expected in lineage


def test_errors_name_the_problem(pipeline_file, tmp_path, capsys):
    path, root, _ = pipeline_file
    with pytest.raises(SystemExit, match="give --pipeline-root"):
        cli.main(["pipeline", "list"])
    _main(capsys, "run", path, "--pipeline-root", root)
    with pytest.raises(SystemExit, match=r"No run 7 in .* Runs: \[1\]"):
        cli.main(["pipeline", "show", "7", "--pipeline-root", root])
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(SystemExit, match="defines no create_pipeline"):
        cli.main(["pipeline", "run", str(empty)])
    with pytest.raises(SystemExit, match="unexpected arguments"):
        cli.main(["pipeline", "run", path, "extra"])
    with pytest.raises(SystemExit, match=r"takes no \['epochs'\]"):
        cli.main(["pipeline", "run", path, "epochs=3"])
    with pytest.raises(SystemExit, match="steps=many is not of type int"):
        cli.main(["pipeline", "run", path, "steps=many"])
    with pytest.raises(SystemExit):
        cli.main(["pipeline", "list", "--runner=X", "--pipeline-root", root])


def test_quiet_logs_drop_beams_import_notice_only(caplog):
    from pipelines import cli as pipeline_cli

    pipeline_cli.quiet_logs(verbose=False)
    root = logging.getLogger()
    root.warning("apitools not found, and bigquery client libraries ...")
    root.warning("a real warning")
    assert [r.getMessage() for r in caplog.records] == ["a real warning"]
