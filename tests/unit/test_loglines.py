"""detect/loglines is the one reader of a log line: every form a daemon's line arrives in reads the same."""

from __future__ import annotations

import json

import pytest

from remediator.detect import dumps, loglines
from remediator.detect.loglines import MAX_LINE, parse


def test_every_wrapping_of_one_message_reads_as_the_same_text() -> None:
    plain = 'level=fatal msg="failed to dial \\"/run/x.sock\\""'
    forms = [
        plain,
        json.dumps({"MESSAGE": plain, "_PID": "12"}),
        json.dumps({"MESSAGE": list(plain.encode())}),  # journald's form of a non-UTF-8 message
        json.dumps({"level": "fatal", "msg": 'failed to dial "/run/x.sock"', "time": "2026-01-01T00:00:00Z"}),
    ]
    assert [ln.text for ln in parse("\n".join(forms))] == ['level=fatal msg="failed to dial "/run/x.sock""'] * 4


@pytest.mark.parametrize(("line", "proc"), [
    ("Jun  2 19:33:36 node-7 dockerd[1234]: level=info msg=x", "dockerd"),
    ("2021-03-01T12:55:03+0800 host containerd[4230]: x", "containerd"),
    ("Jun  2 19:33:36 node-7 kernel: INFO: task dockerd:1 blocked for more than 120 seconds.", "kernel"),
    ("[2024-05-01T10:00:00.000Z][com.docker.backend][I] x", "com.docker.backend"),  # Docker Desktop
    ('time="2026-01-01T00:00:00Z" level=info msg="Starting up"', None),
])
def test_the_program_that_printed_a_line_is_read_from_its_prefix(line: str, proc: str | None) -> None:
    assert parse(line)[0].proc == proc


def test_a_giant_line_is_cut_before_any_regex_and_blank_lines_keep_their_numbers() -> None:
    lines = parse("x" * (10 * MAX_LINE) + "\n\n  \nlast")
    assert len(lines[0].text) == MAX_LINE
    assert [(ln.no, ln.text) for ln in lines[1:]] == [(4, "last")]
    assert [ln.no for ln in loglines.parse_lines(["a", "", "b"], first_no=10)] == [10, 12]


@pytest.mark.parametrize("prefix", [
    "Jun  2 19:33:36 node-7 dockerd[1234]: ",
    "2021-03-01T12:55:03+0800 host dockerd[4230]: ",
    "2021-03-01 12:55:03+0800 host dockerd: ",  # rsyslog's space-separated ISO form, no pid
    "[2024-05-01T10:00:00.000Z][dockerd][I] ",
])
def test_one_prefix_regex_serves_the_crash_attribution_and_the_dump_reader(prefix: str) -> None:
    frame = "github.com/docker/docker/daemon.(*Daemon).ContainerInspect(0xc4201, 0x1)"
    assert loglines.strip_prefix(prefix + frame) == frame
    header = "goroutine 7 [semacquire, 12 minutes]:"
    dump = "\n".join(prefix + ln for ln in (header, frame, "\t/go/src/x.go:12 +0x1", ""))
    (g,) = dumps.parse(dump.splitlines())
    assert (g.id, g.minutes, g.frames) == (7, 12, ("github.com/docker/docker/daemon.(*Daemon).ContainerInspect",))


def test_a_line_that_only_looks_like_json_is_kept_as_it_is() -> None:
    for raw in ("{not json", "[1, 2]", "{" * 100_000):  # the last: nested past the parser's depth
        assert loglines.record_message(raw) is None
        assert parse(raw)[0].text == raw[:MAX_LINE]
    assert loglines.record_message('{"MESSAGE": null}') is None  # a record, but no text in it
