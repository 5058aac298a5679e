"""`--setup_file ./setup.py`: what Beam ships to Dataflow/Flink/Spark workers.

Beam's stager builds an sdist from the setup file and each worker installs
it. This builds it with the stager's own function and installs it into an
empty directory, as a worker would, then imports a pipeline from there.
"""

import os
import subprocess
import sys
import tarfile

from apache_beam.runners.portability.stager import Stager

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PACKAGES = ("ssl_tf", "components", "pipelines")


def _tracked_modules():
    listed = subprocess.run(
        ["git", "ls-files", "--", *PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {path for path in listed if path.endswith(".py")}


def test_the_worker_package_holds_every_module_and_imports(tmp_path):
    setup_file = os.path.join(os.path.abspath(REPO), "setup.py")
    sdist = Stager._build_setup_package(setup_file, str(tmp_path / "dist"))
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    shipped = {
        name[len(top) + 1 :]
        for name in names
        if name.endswith(".py") and name.split("/")[1] in PACKAGES
    }
    assert shipped == _tracked_modules()

    target = tmp_path / "worker"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        + ["--no-build-isolation", "--target", str(target), sdist],
        check=True,
        capture_output=True,
    )
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pipelines.simclr_cifar10 as p; print(p.__file__)",
        ],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(target)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found == str(target / "pipelines" / "simclr_cifar10.py")
    # setuptools puts tests/test_*.py in every sdist; a worker installs the
    # packages only.
    installed = {path.name for path in target.iterdir() if path.is_dir()}
    assert installed - {"bin", "ssl_tf-0.1.0.dist-info"} == set(PACKAGES)
