"""The shipped runbooks, installed as package data of `remediator.runbooks` (pyproject maps this
directory there), so `pip install .`, a wheel or `pipx install` find them without the checkout."""
