"""Goroutine-dump analysis: parsing every form a dump reaches us in, grouping, what stacks wait on, verdicts."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from remediator.detect import dumps

DUMPS = Path(__file__).resolve().parents[1] / "data" / "dumps"
PS_HANG = "dockerd-1.12-ps-hang-journald.log"  # journald pieces of one logrus message
INSPECT_HANG = "goroutine-stacks-2021-06-02T193336Z.log"  # plain goroutine-stacks file
CONTAINERD = "containerd.1679.stacks.log"
BOLT_PANIC = "dockerd-17.12-bolt-panic-syslog.log"
IDLE = "synthetic-idle.txt"

HTTP = """\
github.com/docker/docker/api/server.(*Server).makeHTTPHandler.func1(0x5598, 0xc00e, 0xc00f)
\t/go/src/github.com/docker/docker/api/server/server.go:141 +0x258
net/http.HandlerFunc.ServeHTTP(0xc000dc8b40, 0x5598, 0xc00e, 0xc00f)
\t/usr/local/go/src/net/http/server.go:2042 +0x44
net/http.serverHandler.ServeHTTP(0xc000318620, 0x5598, 0xc00e, 0xc00f)
\t/usr/local/go/src/net/http/server.go:2843 +0xa3
net/http.(*conn).serve(0xc00e3c80a0, 0x5598, 0xc0109b6f80)
\t/usr/local/go/src/net/http/server.go:1925 +0x8ad
created by net/http.(*Server).Serve
\t/usr/local/go/src/net/http/server.go:2969 +0x36c"""


def text(name: str) -> str:
    return (DUMPS / name).read_text()


def summary_of(name: str) -> dumps.DumpSummary:
    return dumps.summarize(dumps.parse(text(name).splitlines()))


def stack(gid: int, state: str, *frames: str, request: bool = False) -> str:
    """One goroutine as Go prints it, each frame with a made-up file line."""
    body = "".join(f"{f}(0xc000{i:03x}, 0x0)\n\t/go/src/x/f{i}.go:{i + 10} +0x{i + 1:x}\n" for i, f in enumerate(frames))
    return f"goroutine {gid} [{state}]:\n{body}" + (HTTP if request else "created by main.main\n\t/go/src/main.go:1 +0x1") + "\n"


def summarize(*stacks: str) -> dumps.DumpSummary:
    return dumps.summarize(dumps.parse("\n".join(stacks).splitlines()))


# --- recognising and parsing ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in DUMPS.iterdir()))
def test_every_fixture_looks_like_a_dump_and_parses(name: str) -> None:
    raw = text(name)
    assert raw.startswith(("# source: https://github.com/", "# synthetic"))
    assert dumps.looks_like_dump(raw) and dumps.looks_like_dump(raw.splitlines())
    goroutines = dumps.parse(raw.splitlines())
    assert goroutines and all(g.frames for g in goroutines)
    for g in goroutines:
        for f in g.frames:  # normalised: no argument list, offset, vendor or GOPATH prefix
            assert "/vendor/" not in f and "+0x" not in f and not f.startswith("/") and not f.endswith(")"), f


def test_looks_like_dump_is_cheap_and_not_fooled() -> None:
    assert not dumps.looks_like_dump("time=x level=info msg=\"goroutine stacks written to /var/run/docker/x.log\"")
    assert not dumps.looks_like_dump("goroutine 1 [running]:\nmain.main()")  # one header alone is not a dump
    assert dumps.looks_like_dump("panic: boom\n\ngoroutine 1 [running]:\nmain.main()")  # unless a panic precedes it
    assert dumps.looks_like_dump(["Jun  2 19:33:36 h dockerd[1]: panic: x", "goroutine 1 [running]:"])
    assert dumps.looks_like_dump('msg="x\\ngoroutine 1 [select]:\\nmain.f()\\n\\ngoroutine 2 [chan receive, 3 minutes]:\\n"')


def test_plain_goroutine_stacks_file_headers_states_minutes_and_frames() -> None:
    gs = {g.id: g for g in dumps.parse(text(INSPECT_HANG).splitlines())}
    assert len(gs) == 17
    first = gs[9403905]
    assert (first.state, first.minutes) == ("semacquire", 528)
    assert first.frames[:4] == ("sync.runtime_SemacquireMutex", "sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock",
                                "github.com/docker/docker/daemon.(*Daemon).ContainerInspectCurrent")
    assert "github.com/gorilla/mux.(*Router).ServeHTTP" in first.frames  # the vendor/ prefix is gone
    assert first.created_by == "net/http.(*Server).Serve"
    assert (gs[3341].state, gs[3341].minutes) == ("running", 0)
    assert gs[1].frames[-1] == "main.main"


def test_header_forms_of_every_go_version() -> None:
    gs = dumps.parse([
        "goroutine 17 [syscall, 32987 minutes, locked to thread]:", "runtime.goexit()", "",
        "goroutine 9 [sync.Mutex.Lock, 12 minutes]:", "sync.runtime_SemacquireMutex(0xc0, 0x0, 0x1)", "",
        "goroutine 71 gp=0xc000503880 m=12 mp=0xc000601808 [running]:", "main.main()", "",
        "goroutine 5 [select, 1 minutes]:", "main.f(...)", "created by main.g in goroutine 1", "",
        "goroutine 6 [GC worker (idle)]:", "runtime.gcBgMarkWorker()",
    ])
    assert [(g.id, g.state, g.minutes) for g in gs] == [
        (17, "syscall", 32987), (9, "sync.Mutex.Lock", 12), (71, "running", 0), (5, "select", 1), (6, "GC worker (idle)", 0)]
    assert gs[3].created_by == "main.g"


def test_journald_pieces_of_one_logrus_message_are_rejoined() -> None:
    raw = text(PS_HANG)
    assert "\\n" in raw and max(len(line) for line in raw.splitlines()) < 1200  # cut into pieces, escaped
    gs = {g.id: g for g in dumps.parse(raw.splitlines())}
    assert len(gs) == 16
    assert gs[71155].frames[2] == "github.com/docker/docker/daemon.(*Daemon).reducePsContainer"
    assert gs[17].state == "syscall" and gs[17].minutes == 27402
    assert gs[68342].created_by == "net/http.(*Server).Serve"  # the last goroutine, before `=== END ...`


def test_journald_prefix_rsyslog_tabs_and_journal_json_give_the_plain_parse() -> None:
    plain = text(INSPECT_HANG).splitlines()
    want = dumps.parse(plain)
    syslog = [f"Jun  2 19:33:36 host dockerd[1234]: {line}".replace("\t", "#011") for line in plain]
    iso = [f"2021-06-02T19:33:36+0000 host dockerd[1234]: {line}" for line in plain]
    bare = [f"Aug 09 13:49:31 dockerd[1802]: {line}" for line in plain]  # no host name
    journal = [json.dumps({"_PID": "1234", "MESSAGE": line}) for line in plain]
    as_bytes = [json.dumps({"MESSAGE": list(line.encode())}) for line in plain[:40]]
    for form in (syslog, iso, bare, journal):
        assert dumps.parse(form) == want
    assert dumps.parse(as_bytes) == dumps.parse(plain[:40])


def test_a_dump_in_one_logrus_line_with_escapes() -> None:
    plain = text(INSPECT_HANG)
    escaped = plain.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    line = f'time="2021-06-02T19:33:36.1Z" level=info msg="=== BEGIN goroutine stack dump ===\\n{escaped}\\n=== END goroutine stack dump ==="'
    want = dumps.parse(plain.splitlines())
    assert dumps.parse(["level=info msg=\"Processing signal 'user defined signal 1'\"", line, 'level=debug msg="after"']) == want
    assert dumps.parse([f"Jun  2 19:33:36 host dockerd[1234]: {line}"]) == want


def test_a_piece_whose_message_began_before_the_input() -> None:
    pieces = ["Oct  5 10:16:43 h dockerd[1]: 354 +0x23c\\n\\ngoroutine 71155 [semacquire, 4 minutes]:\\nsync.runtime_Semacq",
              "Oct  5 10:16:43 h dockerd[1]: uire(0xc8213f5c74)\\n\\t/usr/local/go/src/runtime/sema.go:47 +0x26\\nsync.(*Mu",
              "Oct  5 10:16:43 h dockerd[1]: tex).Lock(0xc8213f5c70)\\n\\t/usr/local/go/src/sync/mutex.go:83 +0x1c4\\n\\n"]
    (g,) = dumps.parse(pieces)
    assert (g.id, g.minutes, g.frames) == (71155, 4, ("sync.runtime_Semacquire", "sync.(*Mutex).Lock"))


def test_interleaved_log_lines_and_source_comments_are_not_frames() -> None:
    gs = dumps.parse(["# source: https://github.com/moby/moby/issues/1", "goroutine 1 [select, 2 minutes]:", "main.f()",
                      'time="x" level=info msg="unrelated"', "main.g()", "", "goroutine 2 [select]:", "main.h()"])
    assert [(g.id, g.frames) for g in gs] == [(1, ("main.f",)), (2, ("main.h",))]


def test_a_truncated_dump_keeps_what_came_before_the_cut() -> None:
    raw = text(INSPECT_HANG)
    cut = raw[: raw.index("goroutine 9451288")] + "goroutine 9451288 [semacquire, 519 minutes]:\nsync.runtime_SemacquireMutex(0xc00103f204, 0x0"
    gs = dumps.parse(cut.splitlines())
    assert gs[-1].id == 9451288 and gs[-1].frames == ("sync.runtime_SemacquireMutex",)
    assert dumps.verdict(dumps.summarize(gs))[0] == "dockerd-wedged"
    for n in (1, 7, 100, 1000, len(raw) // 2):  # cut anywhere, never raise
        dumps.summarize(dumps.parse(raw[:n].splitlines()))


def test_a_million_lines_of_garbage_are_bounded_and_do_not_raise() -> None:
    rng = random.Random(3)
    junk = ["", "goroutine 12 [semacquire, 3 minutes]:", "\tpkg.(*T).M(0x1, 0x2)", "(((((((" * 50, "a/vendor/" * 60 + "x.F()",
            'msg="\\n\\tgoroutine 1 [x]:', "\\n" * 40, "x" * 300, "panic: boom", "created by x.y in goroutine 3", "{garbage",
            '{"MESSAGE": [1, 2, 300]}', '{"MESSAGE": ' + "[" * 50, "Jun  2 19:33:36 host dockerd[1]: \\t\\t", "\u2603 \x00 \ufffd",
            "goroutine 1 []:"]
    lines = [rng.choice(junk) for _ in range(1_000_000)]
    t = time.monotonic()
    summary = dumps.summarize(dumps.parse(lines))
    dumps.render(summary), dumps.verdict(summary), dumps.panic_owner(summary)
    assert time.monotonic() - t < 60
    assert summary.goroutines <= dumps.MAX_GOROUTINES


def test_goroutines_and_frames_are_capped() -> None:
    many = dumps.parse(line for i in range(dumps.MAX_GOROUTINES + 50) for line in (f"goroutine {i} [select]:", "main.f()", ""))
    assert len(many) == dumps.MAX_GOROUTINES
    (deep,) = dumps.parse(["goroutine 1 [running]:"] + [f"main.f{i}()" for i in range(1000)])
    assert len(deep.frames) == dumps.MAX_FRAMES
    assert dumps.parse(['{"MESSAGE": ' + "[" * 100_000]) == []  # too deep for json: not a record, not a crash
    (long,) = dumps.parse(["goroutine 1 [running]:", "github.com/" + "a" * 100_000 + ".F()"])
    assert len(long.frames[0]) <= dumps.MAX_LINE


# --- grouping ------------------------------------------------------------------------------------

def test_identical_stacks_are_grouped_and_counted() -> None:
    s = summary_of(INSPECT_HANG)
    inspect = next(g for g in s.groups if "ContainerInspectCurrent" in " ".join(g.frames))
    assert (inspect.count, inspect.min_minutes, inspect.max_minutes, inspect.state) == (9, 471, 528, "semacquire")
    assert inspect.first_id == 9403905 and inspect.waits_on == "container lock" and inspect.request
    assert s.goroutines == 17 and len(s.groups) == 9
    assert (s.requests, s.requests_waiting) == (11, 10)  # the `docker events` stream is in flight, not parked


def test_groups_longest_wait_first_then_biggest() -> None:
    s = summarize(stack(1, "select, 5 minutes", "main.a"), stack(2, "select, 5 minutes", "main.b"),
                  stack(3, "select, 5 minutes", "main.b"), stack(4, "select, 9 minutes", "main.c"), stack(5, "select", "main.d"))
    assert [(g.frames[0], g.count, g.max_minutes) for g in s.groups] == [
        ("main.c", 1, 9), ("main.b", 2, 5), ("main.a", 1, 5), ("main.d", 1, 0)]
    for name in (PS_HANG, INSPECT_HANG, CONTAINERD, IDLE):
        keys = [(-g.max_minutes, -g.count) for g in summary_of(name).groups]
        assert keys == sorted(keys)


# --- what stacks wait on -------------------------------------------------------------------------

GRPC = ("google.golang.org/grpc/internal/transport.(*Stream).waitOnHeader", "google.golang.org/grpc.(*csAttempt).recvMsg",
        "google.golang.org/grpc.(*clientStream).RecvMsg", "google.golang.org/grpc.invoke",
        "google.golang.org/grpc.(*ClientConn).Invoke")
LOCK = ("sync.runtime_SemacquireMutex", "sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock")
D = "github.com/docker/docker/"


@pytest.mark.parametrize(("state", "frames", "kind"), [
    ("semacquire, 17 minutes", (*LOCK, D + "container.(*State).Lock", D + "daemon.(*Daemon).containerInspect"), "container lock"),
    ("sync.Mutex.Lock, 12 minutes", ("sync.runtime_SemacquireMutex", "sync.(*Mutex).Lock", D + "daemon.(*Daemon).reducePsContainer"),
     "container lock"),
    ("semacquire, 3 minutes", ("sync.runtime_Semacquire", "sync.(*Mutex).Lock", D + "daemon.(*Daemon).ContainerStop"), "container lock"),
    ("select, 9 minutes", (*GRPC, D + "vendor/github.com/containerd/containerd/api/services/tasks/v1.(*tasksClient).Start",
                           D + "libcontainerd/remote.(*client).Start", D + "daemon.(*Daemon).containerStart"), "containerd reply"),
    ("syscall, 4 minutes", ("syscall.Syscall6", "syscall.openat", "os.OpenFile", "github.com/containerd/fifo.openFifo.func2"), "fifo"),
    ("syscall, 4 minutes", ("syscall.Syscall", "syscall.Open", "os.OpenFile", D + "libcontainerd.openReaderFromFifo.func1"), "fifo"),
    ("select, 4409 minutes", ("net/http.(*persistConn).roundTrip", "net/http.(*Transport).RoundTrip", "net/http.(*Client).Do",
                              D + "pkg/plugins.(*Client).callWithRetry", D + "pkg/plugins.(*Client).Call",
                              D + "volume/drivers.(*volumeDriverProxy).Unmount", D + "volume/drivers.(*volumeDriverAdapter).Unmount"),
     "volume plugin"),
    ("select, 3 minutes", ("net/http.(*persistConn).roundTrip", D + "pkg/plugins.(*Client).callWithRetry",
                           D + "libnetwork/drivers/remote.(*driver).call"), "network plugin"),
    ("semacquire, 6 minutes", (*LOCK, "go.etcd.io/bbolt.(*DB).beginRWTx", "go.etcd.io/bbolt.(*DB).Update",
                               "github.com/containerd/containerd/metadata.(*DB).Update"), "bolt lock/db"),
    ("syscall, 2 minutes", ("syscall.Syscall", "syscall.Flock", "github.com/boltdb/bolt.flock", "github.com/boltdb/bolt.Open"),
     "bolt lock/db"),
    ("semacquire, 8 minutes", (*LOCK, D + "libnetwork.(*controller).NetworkByID", D + "daemon.(*Daemon).FindNetwork"),
     "network controller"),
    ("syscall, 8 minutes", ("syscall.Syscall6", "syscall.recvfrom", "github.com/vishvananda/netlink/nl.(*NetlinkSocket).Receive",
                            "github.com/vishvananda/netlink.(*Handle).LinkList", D + "libnetwork.(*sandbox).populateNetworkResources"),
     "netlink"),
    ("semacquire, 5611 minutes", ("sync.runtime_Semacquire", "sync.(*RWMutex).RLock", D + "daemon/exec.(*Store).List",
                                  D + "daemon.(*Daemon).containerExecIds"), "exec"),
    ("select, 43 minutes", ("github.com/containerd/ttrpc.(*Client).dispatch", "github.com/containerd/ttrpc.(*Client).Call",
                            "github.com/containerd/containerd/runtime/v2/task.(*taskClient).Kill"), "shim reply"),
    ("semacquire, 2 minutes", (*LOCK, D + "layer.(*layerStore).Get"), "lock in layer.(*layerStore).Get"),
    ("IO wait, 87 minutes", ("internal/poll.runtime_pollWait", "net.(*conn).Read", "github.com/containerd/ttrpc.readMessageHeader"),
     "ttrpc.readMessageHeader"),
    ("select, 2210 minutes", (*GRPC[:3], "github.com/containerd/containerd/api/services/events/v1.(*eventsSubscribeClient).Recv",
                              D + "libcontainerd/remote.(*client).processEventStream"), "containerd events"),
])
def test_waits_on_names_what_a_stack_waits_for(state: str, frames: tuple[str, ...], kind: str) -> None:
    (group,) = summarize(stack(7, state, *frames)).groups
    assert group.waits_on == kind
    assert group.blocked == (kind not in ("ttrpc.readMessageHeader", "containerd events"))


def test_a_component_idling_in_select_is_not_blocked() -> None:
    (group,) = summarize(stack(33, "select, 27401 minutes", "github.com/docker/libnetwork.(*controller).watchLoop")).groups
    assert (group.waits_on, group.blocked) == ("network controller", False)


def test_request_goroutines_and_streams() -> None:
    s = summary_of(IDLE)
    requests = {g.waits_on: g for g in s.groups if g.request}
    assert set(requests) == {"system.(*systemRouter).getEvents", "httputils.WriteLogStream", "overlay2.(*Driver).Status"}
    assert requests["system.(*systemRouter).getEvents"].streaming and requests["system.(*systemRouter).getEvents"].max_minutes == 1203
    assert not requests["overlay2.(*Driver).Status"].streaming
    idle_conn = next(g for g in s.groups if g.state == "IO wait")  # a keep-alive connection between requests
    assert not idle_conn.request and idle_conn.created_by == "net/http.(*Server).Serve"
    assert (s.requests, s.requests_waiting) == (3, 0)


# --- verdicts ------------------------------------------------------------------------------------

def test_parked_requests_are_dockerd_wedged() -> None:
    verdict, why = dumps.verdict(summary_of(INSPECT_HANG))
    assert verdict == "dockerd-wedged"
    assert why[0] == ("1 request goroutine parked 531 minutes on containerd reply: "
                      "remote.(*client).SignalProcess ← daemon.(*Daemon).kill ← daemon.(*Daemon).killWithSignal")
    assert why[1] == ("9 request goroutines parked 471–528 minutes on container lock: daemon.(*Daemon).ContainerInspectCurrent"
                      " ← daemon.(*Daemon).ContainerInspect ← container.(*containerRouter).getContainersByName")


def test_ps_hang_names_the_lock_and_the_fifo_behind_it() -> None:
    verdict, why = dumps.verdict(summary_of(PS_HANG))
    assert verdict == "dockerd-wedged"
    assert why[1].startswith("6 request goroutines parked 1–5 minutes on container lock: daemon.(*Daemon).reducePsContainer")
    assert why[-1] == "also blocked, not a request: 1 × [syscall, 7 minutes] on fifo: libcontainerd.openReaderFromFifo.func1"


def test_thresholds() -> None:
    s = summary_of(PS_HANG)
    assert dumps.verdict(s, min_minutes=7)[0] is None  # the longest parked request waited 6 minutes
    assert dumps.verdict(s, min_minutes=5)[1][:2] == [
        "1 request goroutine parked 6 minutes on container lock: container.(*State).IsRunning ← daemon.(*Daemon).containerStop "
        "← daemon.(*Daemon).ContainerStop",
        "1 request goroutine parked 5 minutes on container lock: daemon.(*Daemon).reducePsContainer ← "
        "daemon.(*Daemon).reduceContainers ← daemon.(*Daemon).Containers"]
    assert dumps.verdict(s, min_requests=7)[0] == "dockerd-wedged"
    verdict, reasons = dumps.verdict(s, min_requests=8)
    assert verdict is None and reasons[0].startswith("7 API request(s) in flight, 7 parked ≥ 1 minute(s) (a wedge needs 8)")


def test_a_healthy_idle_daemon_is_not_wedged() -> None:
    verdict, reasons = dumps.verdict(summary_of(IDLE))
    assert verdict is None
    assert reasons == ["3 API request(s) in flight, 0 parked ≥ 1 minute(s) (a wedge needs 1) among 13 goroutines"]
    assert dumps.panic_owner(summary_of(IDLE)) is None


def test_requests_younger_than_a_minute_are_not_wedged() -> None:
    s = summarize(*(stack(i, "semacquire", *LOCK, D + "daemon.(*Daemon).ContainerInspectCurrent", request=True) for i in range(30)))
    assert (s.requests, s.requests_waiting) == (30, 0) and dumps.verdict(s)[0] is None


def test_containerd_dump_has_no_dockerd_requests_but_names_its_shim_waits() -> None:
    verdict, reasons = dumps.verdict(summary_of(CONTAINERD))
    assert verdict is None
    assert reasons[1] == ("longest blocked, not a request: 2 × [select, 41–43 minutes] on shim reply: "
                          "v1.(*shimClient).Kill ← linux.(*Task).Kill ← tasks.(*local).Kill")


def test_a_panic_is_reported_as_a_panic_not_a_wedge() -> None:
    s = summary_of(BOLT_PANIC)
    assert s.panic == "cannot free page 0 or 1: 0"
    assert s.panic_frames[0] == "github.com/boltdb/bolt.(*freelist).free"
    verdict, reasons = dumps.verdict(s)
    assert verdict is None
    assert reasons == ["panic, not a wedge: cannot free page 0 or 1: 0",
                       "at bolt.(*freelist).free ← … ← boltdb.(*BoltDB).AtomicPut ← datastore.(*datastore).PutObjectAtomic"
                       " ← libnetwork.(*controller).updateToStore"]
    assert dumps.panic_owner(s) == "dockerd-local-kv.db"


def panicked(message: str, *frames: str, header: str = "goroutine 1 [running]:") -> dumps.DumpSummary:
    return dumps.summarize(dumps.parse([message, "", header, *(f"{f}(0x1)" for f in frames)]))


@pytest.mark.parametrize(("frames", "owner"), [
    (("github.com/docker/docker/vendor/github.com/boltdb/bolt.(*Cursor).search", "github.com/boltdb/bolt.(*Tx).Bucket",
      D + "volume/service.listMeta", D + "volume/service.(*VolumeStore).restore.func1"), "dockerd-volumes-metadata.db"),
    (("go.etcd.io/bbolt.(*freelist).free", "go.etcd.io/bbolt.(*Tx).Commit", "go.etcd.io/bbolt.(*DB).Update",
      "github.com/containerd/containerd/metadata.(*DB).Update", "github.com/containerd/containerd/metadata.update"), "containerd-meta.db"),
    (("go.etcd.io/bbolt.(*Cursor).search", "github.com/moby/buildkit/cache/metadata.(*Store).Probe", D + "builder/builder-next.New"),
     "dockerd-buildkit"),
    (("go.etcd.io/bbolt.(*DB).freepages.func2",), None),  # bolt alone names no database
    (("go.etcd.io/bbolt.(*Tx).Commit", "github.com/containerd/containerd/snapshots/storage.CreateSnapshot",
      "github.com/containerd/containerd/metadata.(*snapshotter).Prepare"), None),  # a snapshotter's own db is not meta.db
    (("runtime.panicmem", D + "daemon.(*Daemon).getInspectData", D + "daemon.(*Daemon).ContainerInspectCurrent"), None),
    (("github.com/moby/buildkit/solver.(*edge).unpark",), "dockerd-buildkit"),
])
def test_panic_owner(frames: tuple[str, ...], owner: str | None) -> None:
    s = panicked("panic: invalid page type: 0: 4", *frames)
    assert s.panic == "invalid page type: 0: 4" and dumps.panic_owner(s) == owner
    assert dumps.verdict(s)[0] is None


def test_a_go_1_21_crash_trace_of_containerd_started_by_dockerd() -> None:
    lines = [f"Jan 10 10:07:42 node dockerd[28614]: {line}" for line in (
        "panic: freepages: failed to get all reachable pages (key[0]=(hex)35 on leaf page(2) needs to be < than key). "
        "Pages stack: [11 2]",
        "goroutine 71 gp=0xc000503880 m=12 mp=0xc000601808 [running]:",
        "panic({0x5611da793340?, 0xc000445c40?})",
        "        /usr/local/go/src/runtime/panic.go:779 +0x158 fp=0xc00049bf88 sp=0xc00049bed8 pc=0x5611d8f551f8",
        "go.etcd.io/bbolt.(*DB).freepages.func2()",
        "        /root/rpmbuild/BUILD/vendor/go.etcd.io/bbolt/db.go:1202 +0x8d fp=0xc00049bfe0 sp=0xc00049bf88 pc=0x5611d97a2e4d",
        "runtime.goexit({})",
        "        /usr/local/go/src/runtime/asm_amd64.s:1695 +0x1 fp=0xc00049bfe8 sp=0xc00049bfe0 pc=0x5611d8f8f3a1",
        "created by go.etcd.io/bbolt.(*DB).freepages in goroutine 1",
        "        /root/rpmbuild/BUILD/vendor/go.etcd.io/bbolt/db.go:1200 +0x1e5")]
    assert dumps.looks_like_dump(lines)
    s = dumps.summarize(dumps.parse(lines))
    assert s.panic is not None and s.panic.startswith("freepages: failed to get all reachable pages")
    assert s.panic_frames == ("panic", "go.etcd.io/bbolt.(*DB).freepages.func2", "runtime.goexit")
    assert s.groups[0].created_by == "go.etcd.io/bbolt.(*DB).freepages"
    assert dumps.panic_owner(s) is None  # bolt's frames alone do not say whose database it is
    assert dumps.verdict(s) == (None, [f"panic, not a wedge: {s.panic}", "at bbolt.(*DB).freepages.func2"])


def test_fatal_errors_recovered_panics_and_stray_panic_lines() -> None:
    s = panicked("fatal error: concurrent map writes", "runtime.throw", D + "daemon.(*Daemon).Cleanup",
                 header="goroutine 8 gp=0xc0 m=3 mp=0xc1 [running]:")
    assert s.panic == "concurrent map writes"
    assert panicked("http: panic serving @: page 9 already freed", "github.com/boltdb/bolt.(*freelist).free",
                    D + "volume/store.(*VolumeStore).create").panic == "page 9 already freed"
    nested = dumps.parse(["panic: first [recovered]", "\tpanic: second", "", "goroutine 1 [running]:", "main.main()"])
    assert nested[0].panic == "first [recovered]"
    stray = dumps.parse(["panic: in a log line", *(f"level=info msg={i}" for i in range(60)),
                         "goroutine 1 [select]:", "main.main()", "", "goroutine 2 [select]:", "main.f()"])
    assert [g.panic for g in stray] == [None, None]
    assert dumps.panic_owner(summary_of(INSPECT_HANG)) is None and summary_of(INSPECT_HANG).panic is None


# --- rendering -----------------------------------------------------------------------------------

def test_render_puts_parked_requests_first() -> None:
    lines = dumps.render(summary_of(INSPECT_HANG), limit=2)
    assert lines[0] == "17 goroutines in 9 distinct stacks; 11 API requests in flight, 10 parked ≥ 1 minute(s)"
    assert lines[1] == "  1 × [select, 531 minutes] waits on containerd reply (API request)  (e.g. goroutine 5120883)"
    head = lines.index("  9 × [semacquire, 471–528 minutes] waits on container lock (API request)  (e.g. goroutine 9403905)")
    assert lines[head + 1: head + 5] == ["      sync.runtime_SemacquireMutex", "      sync.(*Mutex).lockSlow", "        …",
                                         "      github.com/docker/docker/daemon.(*Daemon).ContainerInspectCurrent"]
    assert lines[-1] == "  … 7 more stacks"
    assert all(len(line) < 200 for line in lines)


def test_render_a_panic_and_an_empty_input() -> None:
    lines = dumps.render(summary_of(BOLT_PANIC))
    assert lines[1] == "panic: cannot free page 0 or 1: 0"
    assert lines[2] == "      github.com/boltdb/bolt.(*freelist).free"
    empty = dumps.summarize(dumps.parse([]))
    assert dumps.render(empty) == ["0 goroutines in 0 distinct stacks; 0 API requests in flight, 0 parked ≥ 1 minute(s)"]
    assert dumps.verdict(empty) == (None, ["no goroutine in the input"])
