"""The per-host lifecycle, built from a runbook with `transitions`.

Role: bookkeeping and guards only. The graph printed by `runbook graph` is exactly the one the
engine drives: healthy -> suspect -> one state per step (risky steps behind an approve_<id>
state) -> recovered, with rolling_back, rolled_back, refused, failed around them (the daemon's quarantine is the
host's, kept in daemon/store, not a runbook state).
Conditions read model fields the engine sets (guards_ok, approved); callbacks do no I/O.
Must not: run actions, sleep, or touch a host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transitions import Machine
from transitions.extensions import GraphMachine

from remediator.runbook import Runbook

LIFECYCLE = ["healthy", "suspect", "rolling_back", "rolled_back", "recovered", "refused", "escalated", "collected",
             "not_healed", "failed"]


class RungModel:
    """The model the machine drives (one rung of an incident); the engine sets the condition fields before each
    trigger. `transitions` adds `trigger` and, for the graph, `get_graph` to it."""

    state: str
    trigger: Callable[[str], bool]
    get_graph: Callable[..., Any]

    def __init__(self, on_change: Callable[[str, str], None] | None = None) -> None:
        self.guards_ok = False
        self.approved = False
        self.mutated = False  # a completed step declared a rollback: a failure must undo it
        self._on_change = on_change or (lambda _a, _b: None)

    def journal_transition(self, event: Any) -> None:
        self._on_change(event.transition.source, event.transition.dest)


def step_state(step_id: str) -> str:
    return f"step_{step_id}"


def approval_state(step_id: str) -> str:
    return f"approve_{step_id}"


def transitions_for(runbook: Runbook) -> tuple[list[str], list[dict[str, Any]]]:
    """Pure: the states and transitions of this runbook's machine."""
    states = list(LIFECYCLE)
    trans: list[dict[str, Any]] = [
        {"trigger": "detect", "source": "healthy", "dest": "suspect"},
        {"trigger": "rolled", "source": "rolling_back", "dest": "rolled_back"},
        {"trigger": "rollback_failed", "source": "rolling_back", "dest": "failed"},
    ]
    prev = "suspect"
    work_states = []
    for step in runbook.steps:
        here = step_state(step.id)
        if step.risky:
            gate = approval_state(step.id)
            states.append(gate)
            trans.append({"trigger": f"ask_{step.id}", "source": prev, "dest": gate, "conditions": "guards_ok"})
            trans.append({"trigger": f"run_{step.id}", "source": gate, "dest": here, "conditions": "approved"})
            trans.append({"trigger": "deny", "source": gate, "dest": "rolling_back", "conditions": "mutated"})
            trans.append({"trigger": "deny", "source": gate, "dest": "refused", "unless": "mutated"})
            work_states.append(gate)
        else:
            trans.append({"trigger": f"run_{step.id}", "source": prev, "dest": here, "conditions": "guards_ok"})
        states.append(here)
        work_states.append(here)
        prev = here
    trans.append({"trigger": "finish", "source": prev, "dest": "recovered"})
    trans.append({"trigger": "nothing_to_do", "source": work_states, "dest": "healthy"})
    trans.append({"trigger": "refuse", "source": ["suspect", *work_states], "dest": "refused", "unless": "mutated"})
    trans.append({"trigger": "escalate", "source": work_states, "dest": "escalated", "unless": "mutated"})
    trans.append({"trigger": "collect", "source": work_states, "dest": "collected", "unless": "mutated"})
    trans.append({"trigger": "fail", "source": ["suspect", *work_states], "dest": "rolling_back", "conditions": "mutated"})
    trans.append({"trigger": "fail", "source": ["suspect", *work_states], "dest": "not_healed", "unless": "mutated"})
    trans.append({"trigger": "abort", "source": ["suspect", *work_states], "dest": "failed", "conditions": "mutated"})
    trans.append({"trigger": "abort", "source": ["suspect", *work_states], "dest": "not_healed", "unless": "mutated"})
    return states, trans


def build(runbook: Runbook, model: RungModel) -> Machine:
    states, trans = transitions_for(runbook)
    return Machine(model=model, states=states, transitions=trans, initial="healthy", auto_transitions=False,
                   send_event=True, after_state_change="journal_transition", ignore_invalid_triggers=False)


def mermaid(runbook: Runbook) -> str:
    states, trans = transitions_for(runbook)
    model = RungModel()
    GraphMachine(model=model, states=states, transitions=trans, initial="healthy", auto_transitions=False,
                 graph_engine="mermaid", show_conditions=True, title=f"runbook {runbook.name}")
    return str(model.get_graph().draw(None))
