"""Authority is structured (issue 14 point 2): ids that try to reach another route are refused at both ends
(the CLI: exit 2 naming the argument; the API: 400 before any lookup), paths are quoted, and a decision is one
compare-and-set - of a racing approve and deny exactly one wins, and the step runs only when approve won
(over the socket, in the store, in the daemon's approver, and in the engine)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from remediator.cli import main
from remediator.daemon import client, routes
from tests.unit.daemon_stand import INCIDENT, ME, Served


@pytest.fixture
def tmp_path(sock_dir: Path) -> Path:
    """This module's tests bind unix sockets in tmp_path: a short one (tests/conftest.py sock_dir)."""
    return sock_dir


HOSTILE = ["{aid}/approve?", "{aid}/approve#", "{aid}%2Fapprove", "{aid}/../{aid}/approve", "{aid} ", " {aid}",
           "{aid}\n", "{aid}\x00", "{aid}\x1b[31m", "{aid}/approve?/deny", "../../v1/hosts/h1/release?"]


@pytest.mark.parametrize("shape", HOSTILE)
def test_a_hostile_id_is_refused_by_the_cli_with_exit_2_and_nothing_is_decided(served: Served, shape: str) -> None:
    aid = served.pending()
    res = CliRunner().invoke(main, ["deny", shape.format(aid=aid), "--config", str(served.cfg)])
    assert res.exit_code == 2, res.output
    assert "argument IDENT" in res.output and "Traceback" not in res.output
    assert served.d.store.approval(aid).decision is None  # type: ignore[union-attr]
    host = CliRunner().invoke(main, ["pause", shape.format(aid="h1"), "--config", str(served.cfg)])
    assert host.exit_code == 2 and "argument HOST" in host.output, host.output
    assert served.d.store.flags("h1") == (None, None)


@pytest.mark.parametrize("path", ["/v1/approvals/{aid}/approve?/deny", "/v1/approvals/{aid}%2Fapprove/deny",
                                  "/v1/approvals/{aid}/approve#/deny", "/v1/approvals/%61{aid}/approve",
                                  "/v1/approvals//{aid}/approve", "/v1/hosts/h2/release?/pause",
                                  "/v1/approvals/{aid}x/approve", "/v1/approvals/{aid}/approve/"])
def test_the_api_refuses_an_id_that_is_not_in_the_grammar_before_any_lookup(served: Served, path: str) -> None:
    """The other end: a client that does not quote (curl, a script) still cannot turn a deny into an approval."""
    aid = served.pending()
    served.d.store.set_flag("h2", "quarantined", "3 remediations")
    code, body = served.call("POST", path.format(aid=aid), {})
    assert code in (400, 404), (code, body)
    assert served.d.store.approval(aid).decision is None  # type: ignore[union-attr]
    assert served.d.store.flags("h2")[0] == "3 remediations"


def test_the_cli_quotes_what_it_sends(served: Served) -> None:
    assert client.path_for("v1", "approvals", "a/b?c#d e", "deny") == "/v1/approvals/a%2Fb%3Fc%23d%20e/deny"
    aid = served.pending()
    res = CliRunner().invoke(main, ["deny", aid, "--config", str(served.cfg), "--note", "bob says no"])
    assert res.exit_code == 0 and f"denied by {ME}" in res.output, res.output
    assert served.d.store.approval(aid).note == "bob says no"  # type: ignore[union-attr]


def test_twenty_rounds_of_racing_approve_and_deny_have_exactly_one_winner(served: Served) -> None:
    """Over the socket, two clients released together: one 200, one 409 naming the winner; the store holds the
    winner's decision (never a 200 "denied" for an approval that stands)."""
    tally = {"approved": 0, "denied": 0}
    for i in range(20):
        aid = served.pending("abcdef0123456789"[i % 16])
        gate = threading.Barrier(2)
        got: dict[str, tuple[int, dict[str, Any]]] = {}

        def go(verb: str, aid: str = aid, gate: threading.Barrier = gate, got: dict[str, Any] = got) -> None:
            gate.wait()
            got[verb] = served.call("POST", f"/v1/approvals/{aid}/{verb}", {})

        threads = [threading.Thread(target=go, args=(v,)) for v in ("approve", "deny")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        codes = sorted(c for c, _ in got.values())
        assert codes == [200, 409], got
        winner = "approve" if got["approve"][0] == 200 else "deny"
        held = served.d.store.approval(aid).decision  # type: ignore[union-attr]
        assert held == ("approved" if winner == "approve" else "denied"), (got, held)
        loser = got["deny" if winner == "approve" else "approve"][1]["error"]
        assert f"already {held}" in loser
        assert [f["decision"] for e, f in served.d.logged if e == "approval-decided" and f["approval"] == aid] == [held]
        tally[held] += 1
    assert sum(tally.values()) == 20


def test_the_store_compare_and_set_has_one_winner_among_many(tmp_path: Path) -> None:
    from remediator.daemon.store import Store

    store = Store(tmp_path)
    for _ in range(20):
        aid = store.request(incident=INCIDENT, host="h1", step="stop", plan_sha256=os.urandom(32).hex(),
                            summary="s", changes=[], ttl=60).id
        gate = threading.Barrier(8)
        wins: list[str] = []

        def go(i: int, aid: str = aid, gate: threading.Barrier = gate, wins: list[str] = wins) -> None:
            gate.wait()
            verb = "approved" if i % 2 else "denied"
            won, now = store.settle(aid, verb, f"user{i}")
            if won:
                wins.append(verb)
                assert now is not None and now.decision == verb and now.by == f"user{i}"

        threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(wins) == 1 and store.approval(aid).decision == wins[0]  # type: ignore[union-attr]
    store.db.close()


def test_route_ids_use_the_one_grammar() -> None:
    with pytest.raises(routes.ApiError) as e:
        routes.decide(None, "ID/approve?", "deny", {}, "root")  # type: ignore[arg-type]
    assert e.value.code == 400 and "approval" in str(e.value)


def test_the_daemons_approver_acts_only_on_what_the_store_holds_after_the_race(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine side: the daemon's approver (daemon.approvals) waits for the decision while approve and deny
    race through the routes; 20 rounds: it says "run" exactly when approve won, "do not" when deny won (the engine runs the step on its
    word: tests/unit/test_engine.py's approval invariant)."""
    from remediator.daemon.core import Daemon
    from remediator.settings import load_settings
    from remediator.structs import ApprovalRequest

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\n"
                   "hosts:\n  - name: h1\n    policy: approve\n")
    d = Daemon(cfg, load_settings(cfg), log=lambda e, **f: None)
    monkeypatch.setattr(d.approvals, "changed_while_waiting", lambda h: "")  # the host is still sick (no host here)
    h = d.settings.hosts[0]
    try:
        runs = 0
        for i in range(20):
            req = ApprovalRequest(INCIDENT, "stop", "stop_dockerd", "would stop dockerd", ["SIGTERM"], f"{i:064x}")
            said: list[tuple[bool, str]] = []
            waiter = threading.Thread(target=lambda req=req, said=said: said.append(d.approvals.approver(h)(req)))
            waiter.start()
            t_end = time.monotonic() + 10
            while not d.store.approvals() and time.monotonic() < t_end:
                time.sleep(0.01)
            (ask,) = d.store.approvals()
            gate = threading.Barrier(2)
            codes: dict[str, int] = {}

            def go(verb: str, aid: str = ask.id, gate: threading.Barrier = gate, codes: dict[str, int] = codes) -> None:
                gate.wait()
                try:
                    codes[verb] = routes.decide(d.control, aid, verb, {}, f"user-{verb}")[0]
                except routes.ApiError as exc:
                    codes[verb] = exc.code

            racers = [threading.Thread(target=go, args=(v,)) for v in ("approve", "deny")]
            for t in racers:
                t.start()
            for t in racers + [waiter]:
                t.join(30)
            assert sorted(codes.values()) == [200, 409], codes
            (run, why) = said[0]
            assert run == (codes["approve"] == 200), (codes, said)
            assert d.store.approval(ask.id).decision == ("approved" if run else "denied")  # type: ignore[union-attr]
            assert ("by user-approve" if run else "denied by user-deny") in why
            runs += run
        assert 0 <= runs <= 20
    finally:
        d.close()


def test_the_engine_runs_the_risky_step_only_when_approve_won(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine with the daemon's approver and fake actions (tests/unit/test_engine.py's runbook: a, risky b,
    c): 20 incidents, each with approve and deny racing through the routes; step b ran in exactly the incidents
    where approve won."""
    from remediator.daemon.core import Daemon
    from remediator.detect.facts import Facts
    from remediator.hosts.fake import FakeHost, FakeService
    from remediator.journal import Journal
    from remediator.runbook import load_runbook
    from remediator.settings import HostConfig, load_settings
    from tests.fakes.incidents import run_incident
    from tests.unit import test_engine as te

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\ndaemon: {{api_socket: {tmp_path / 'api.sock'}}}\n"
                   "hosts:\n  - name: h\n    policy: approve\n")
    d = Daemon(cfg, load_settings(cfg), log=lambda e, **f: None)
    monkeypatch.setattr(d.approvals, "changed_while_waiting", lambda h: "")
    rb = tmp_path / "rb.yaml"
    rb.write_text(te.RB.replace("FAIL_C", "false"))
    journal = Journal(tmp_path / "journal")
    te.JOURNAL[:] = [journal]
    facts = Facts(host="h", docker_host="unix:///nonexistent", data_root=str(tmp_path / "d"),
                  exec_root=str(tmp_path / "e"), version="x", layout="managed", state_dirs=[], dockerd_pid=None)
    won = {"approve": 0, "deny": 0}
    try:
        for _ in range(20):
            te.TRACE.clear()
            codes: dict[str, int] = {}

            def race(codes: dict[str, int] = codes) -> None:
                t_end = time.monotonic() + 20
                while not d.store.approvals():
                    assert time.monotonic() < t_end
                    time.sleep(0.01)
                (ask,) = d.store.approvals()
                gate = threading.Barrier(2)

                def go(verb: str) -> None:
                    gate.wait()
                    try:
                        codes[verb] = routes.decide(d.control, ask.id, verb, {}, verb + "r")[0]
                    except routes.ApiError as exc:
                        codes[verb] = exc.code

                ts = [threading.Thread(target=go, args=(v,)) for v in ("approve", "deny")]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(30)

            racer = threading.Thread(target=race)
            racer.start()
            report = run_incident(host=FakeHost(HostConfig(name="h")), runbook=load_runbook(rb), journal=journal,
                                  approver=d.approvals.approver(d.settings.hosts[0]), report=lambda *a, **k: None,
                                  dry_run=False, evidence_budget=5, facts=facts, service=FakeService())
            racer.join(30)
            assert sorted(codes.values()) == [200, 409], codes
            winner = "approve" if codes["approve"] == 200 else "deny"
            won[winner] += 1
            assert ("b" in te.TRACE) == (winner == "approve"), (codes, te.TRACE, report.outcome)
        print(f"engine: approve won {won['approve']}, deny won {won['deny']} of 20")
        assert sum(won.values()) == 20
    finally:
        journal.disconnect()
        d.close()
