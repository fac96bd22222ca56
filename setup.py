"""Packaging: the one thing pyproject.toml cannot say.

Every package under remediator/ is found, not listed (a new subpackage ships without an edit here), plus the
top-level runbooks/ directory, installed as the package remediator.runbooks (its package-dir mapping is in
pyproject.toml). pyproject's [tool.setuptools.packages.find] cannot add a mapped package to what it finds (it names
a package by its directory: runbooks/ would ship as a top-level `runbooks`); find_packages here can.
tests/unit/test_packaging.py builds the wheel and imports every module of the source tree from it.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["remediator", "remediator.*"]), "remediator.runbooks"])
