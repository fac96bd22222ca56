"""The lab: disposable real-dockerd sandboxes (sandbox, reaper) and `remediator demo --daemon` (daemon, client).

Role: the demo's, the tests' and the benchmarks' sandbox, apart from the product core. Only remediator.cli
(the `demo` command) imports it (.importlinter); it imports the product, never the reverse.
`from remediator.lab import Sandbox, wait_for` is the lab's API; remediator.lab.sandbox is loaded on first use, so
that `python -m remediator.lab.reaper` (started with every lab dockerd) does not load the product (~0.3 s).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remediator.lab.sandbox import Sandbox, wait_for

__all__ = ["Sandbox", "wait_for"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("remediator.lab.sandbox"), name)
    raise AttributeError(f"module 'remediator.lab' has no attribute {name!r}")
