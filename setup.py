"""Lets Beam ship ssl_tf to its workers: `--setup_file ./setup.py`.

The package is declared in `setup.cfg`; Dataflow, Flink and Spark workers
build an sdist from this file (Beam's stager runs `python -m build --sdist`
or `python setup.py sdist`) and install it before running a component.
"""

from setuptools import setup

setup()
