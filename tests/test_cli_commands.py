"""`ssl-tf NAME`: commands that installed packages add (`ssl_tf.commands`)."""

import importlib.metadata
import sys

import pytest

from ssl_tf import cli

TOY = '''"""`ssl-tf toy`: echo the arguments it was given."""

RECEIVED = []


def main(argv):
    RECEIVED.append(list(argv))
    return 7
'''


@pytest.fixture
def toy_command(tmp_path, monkeypatch):
    (tmp_path / "toy_command_module.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    entries = [
        importlib.metadata.EntryPoint(
            name="toy", value="toy_command_module:main", group=cli.COMMAND_GROUP
        ),
        importlib.metadata.EntryPoint(
            name="absent", value="no_such_module:main", group=cli.COMMAND_GROUP
        ),
    ]
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group: [e for e in entries if e.group == group],
    )
    yield
    sys.modules.pop("toy_command_module", None)


def test_the_project_installs_the_pipeline_command():
    assert cli.plugin_commands()["pipeline"].value == "pipelines.cli:main"


def test_a_command_gets_the_rest_of_the_line_unparsed(toy_command):
    assert cli.main(["toy", "run", "--runner=X", "a=1"]) == 7
    received = sys.modules["toy_command_module"].RECEIVED
    assert received == [["run", "--runner=X", "a=1"]]


def test_help_lists_commands_with_their_docstring(toy_command, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "toy                 echo the arguments it was given" in out
    assert "(not installed: no_such_module:main)" in out


def test_a_missing_command_module_names_it(toy_command):
    with pytest.raises(SystemExit, match="needs 'no_such_module'"):
        cli.main(["absent", "x"])
