"""Which stopped containers only stopped because dockerd shut down (they belong to the snapshot)."""

from __future__ import annotations

from remediator.actions.docker import _when, shutdown_window, stopped_by_shutdown

LOG = """time="2026-11-28T00:33:06.100000000Z" level=info msg="Processing signal 'terminated'"
time="2026-11-28T00:33:07.900000000Z" level=info msg="Daemon shutdown complete"
"""


def _c(name: str, finished: str, **kw: object) -> dict[str, object]:
    return {"id": name * 12, "name": name, "running": False, "finished_at": finished, "manually_stopped": False,
            "auto_remove": False, **kw}


def test_only_containers_the_shutdown_stopped() -> None:
    window = shutdown_window(LOG)
    assert window is not None and window[1] - window[0] > 1.7
    inv = [_c("a", "2026-11-28T00:33:07.123456789Z"),                        # stopped by the shutdown
           _c("b", "2026-11-27T10:00:00Z"),                                   # exited on its own, long before
           _c("c", "2026-11-28T00:33:07Z", manually_stopped=True),            # a person stopped it
           _c("d", "2026-11-28T00:33:07Z", auto_remove=True),                 # --rm: dockerd removes it
           _c("e", "0001-01-01T00:00:00Z"),                                   # never ran
           {**_c("f", "2026-11-28T00:33:07Z"), "running": True}]               # running: in the snapshot anyway
    assert [c["name"] for c in stopped_by_shutdown(inv, window)] == ["a"]


def test_no_clean_shutdown_in_the_log_means_none() -> None:
    assert shutdown_window('time="2026-11-28T00:33:06Z" level=info msg="Starting up"') is None
    assert stopped_by_shutdown([_c("a", "2026-11-28T00:33:07Z")], None) == []


def test_go_timestamps_parse() -> None:
    assert _when("2026-11-28T00:33:07.123456789Z") == _when("2026-11-28T00:33:07.123456Z")
    assert _when("2026-11-28T02:33:07+02:00") == _when("2026-11-28T00:33:07Z")
    assert _when("garbage") is None and _when("0001-01-01T00:00:00Z") is None
