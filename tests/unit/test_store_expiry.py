"""Approvals expire by the store's clock: on a fake clock, a ten-minute TTL passes without waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from remediator.daemon.store import Store
from tests.fakes.clock import FakeClock

INCIDENT = "20261128T000000-abcdef"


def _ask(store: Store, ttl: float) -> str:
    return store.request(incident=INCIDENT, host="h1", step="stop", plan_sha256="a" * 64, summary="would stop dockerd",
                         changes=[], ttl=ttl).id


def test_a_pending_approval_expires_once_its_ttl_passed_not_a_second_before(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(tmp_path, clock=clock)
    aid = _ask(store, 600)
    a = store.approval(aid)
    assert a is not None and a.expires == clock.wall() + 600
    clock.advance(599)
    store.expire()
    assert (a := store.approval(aid)) is not None and a.decision is None, "still pending a second before its TTL"
    clock.advance(2)
    store.expire()
    assert (a := store.approval(aid)) is not None and (a.decision, a.by) == ("expired", "ttl")


def test_waiting_on_an_approval_whose_ttl_passed_marks_it_expired_at_once(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(tmp_path, clock=clock)
    aid = _ask(store, 3600)
    clock.advance(3600)
    t0 = time.monotonic()
    got = store.wait_decision(aid, until=clock.wall() + 7200, stop=threading.Event())
    assert got is not None and (got.decision, got.by, got.note) == ("expired", "ttl", "nobody decided in time")
    assert time.monotonic() - t0 < 1, "an hour's TTL, and no real wait"
