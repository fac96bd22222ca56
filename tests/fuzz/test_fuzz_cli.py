"""The CLI-side fuzz classes (issue 14 point 9): hostile ids, damaged journals and stores, special files as
paths, a broken daemon API, and stdout that cannot take the output.

    ids       incidents/resume/approve/deny/pause/release/resume-host with hostile ids (spaces, control
              characters, `/`, `?`, `#`, `%2F`, 5,000 characters, non-UTF-8 bytes as surrogates): exit 2, and
              the fake daemon never sees a request for one
    state     damaged journal.sqlite3 / daemon.sqlite3 (garbage, truncated, flipped bytes, another schema,
              wrong types and JSON, a directory/FIFO/socket/symlink in place) under incidents, status,
              run --dry-run, resume: a documented code; a file that is refused (exit 2) is left as it was
    specials  FIFOs, sockets, devices, directories and over-long names as config/runbook/log/daemon.json
              paths, under a short per-input alarm: no hang
    api       approvals/approve/deny/pause/release/resume-host against a fake API (tests/fuzz/peer.py) that
              answers garbage, drip-feeds, truncates, floods, or sends JSON of the wrong shape: 0, 2 or 5 within
              daemon.api_timeout (1 s here) plus a second, never a hang
    output    real subprocesses with PYTHONIOENCODING=ascii or latin-1, LANG=C, stdout /dev/full, or a pipe
              already closed: no traceback, no "Exception ignored"; a full stdout is one line on stderr and
              exit 2 (or the command's own non-zero code); a closed pipe leaves the exit code as it was
Counts scale with REMEDIATOR_FUZZ_SCALE; REMEDIATOR_FUZZ_SEED/ONLY/WORKERS as in test_fuzz.py.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import random
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from remediator import idents
from remediator.daemon.store import Store
from remediator.journal import Journal
from tests.fuzz import gen_cli
from tests.fuzz.gen import REPO
from tests.fuzz.harness import EXC_LINE, TRACEBACK, Job, Result
from tests.fuzz.peer import Answer, Peer, http
from tests.fuzz.test_fuzz import DRY_RUN, SCALE, SEED, STATS, World, run_and_judge

RUNBOOK = str(REPO / "runbooks" / "dockerd-restart.yaml")
LOG = str(REPO / "tests" / "data" / "corpus" / "100-containerd-metadb-fastcheck-journald.log")
READ = frozenset({0, 2})
API = frozenset({0, 2, 8})  # done, bad input, no daemon (exitcodes.NO_DAEMON)
API_TIMEOUT = 1.0


def n(base: int) -> int:
    return max(1, round(base * SCALE))


def config(world: World, name: str, *, state_dir: Path | None = None, extra: str = "", host_extra: str = "") -> Path:
    """world.config with another state_dir, a daemon: section, or more keys for every host."""
    text = world.config.read_text()
    if state_dir is not None:
        text = text.replace(f"state_dir: {world.scratch}/state", f"state_dir: {state_dir}", 1)
    if host_extra:
        text = text.replace("    dockerd: ", f"{host_extra}    dockerd: ")
    path = world.scratch / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + extra)
    return path


def api_config(world: World, name: str, sock: str) -> Path:
    return config(world, name, extra=f"daemon:\n  api_socket: {sock}\n  api_timeout: {API_TIMEOUT}\n")


def valid_state(where: Path) -> tuple[dict[str, bytes], str]:
    """A journal with an ended incident and one in flight on h0 (events with JSON), a store with a status,
    flags, a refusal and a pending approval; their bytes, and the in-flight incident's id."""
    with Journal(where) as j:
        done = j.open_incident(host="h1", runbook="dockerd-restart", sha256="0" * 64, dry_run=False)
        j.event(done.id, "state", None, source="healthy", dest="diagnosing")
        j.event(done.id, "approval", "stop", approved=True, by="me")
        j.close(done.id, "recovered", "recovered — é ✓")
        live = j.open_incident(host="h0", runbook="dockerd-restart", sha256="0" * 64, dry_run=False)
        j.event(live.id, "intent", "stop", summary="stop dockerd")
    store = Store(where)
    store.set_status("h0", "healing", verdict="containerd-state", reason="x", open_incident=live.id)
    store.set_flag("h1", "paused", "by hand")
    store.refuse("h0", "budget", "too many")
    store.request(incident=live.id, host="h0", step="stop", plan_sha256="a" * 64, summary="stop", changes=["c"],
                  ttl=3600)
    store.db.close()
    return {f: (where / f).read_bytes() for f in ("journal.sqlite3", "daemon.sqlite3")}, live.id


def fingerprint(path: Path) -> str:
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        return hashlib.sha256(path.read_bytes()).hexdigest() + f"|{st.st_mode:o}"
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(path)
    return f"mode:{st.st_mode:o}|{sorted(os.listdir(path)) if stat.S_ISDIR(st.st_mode) else ''}"


# ---- ids -----------------------------------------------------------------------------------------------------

def test_fuzz_cli_ids(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:ids")
    _files, live = valid_state(world.scratch / "state")
    with Peer(world.scratch / "peer") as peer:
        decide = api_config(world, "decide", peer.add(Answer("ok", [(0.0, http(200, gen_cli.dumps(gen_cli.VALID["decide"])))])))
        hosts = api_config(world, "hosts", peer.add(Answer("ok", [(0.0, http(200, gen_cli.dumps(gen_cli.VALID["host"])))])))
        cfg = str(world.config)
        commands = {  # command -> (argv for an id, the well-formed id it mutates, its kinds, what it exits with)
            "incidents": (lambda i: ["incidents", i, "--config", cfg], live, ("incident id",), {0}),
            "resume": (lambda i: ["resume", i, "--config", cfg], gen_cli.GOOD_INCIDENT, ("incident id",), {2}),
            "approve": (lambda i: ["approve", i, "--config", str(decide)], gen_cli.GOOD_APPROVAL,
                        ("approval id", "incident id"), {0}),
            "deny": (lambda i: ["deny", i, "stop", "--config", str(decide)], gen_cli.GOOD_INCIDENT,
                     ("approval id", "incident id"), {0}),
            "deny-step": (lambda i: ["deny", gen_cli.GOOD_INCIDENT, i, "--config", str(decide)], "stop", ("step id",),
                          {0}),
            "pause": (lambda i: ["pause", i, "--reason", "x", "--config", str(hosts)], "h0", ("host name",), {0}),
            "release": (lambda i: ["release", i, "--config", str(hosts)], "h1", ("host name",), {0}),
            "resume-host": (lambda i: ["resume-host", i, "--config", str(hosts)], "h0", ("host name",), {0}),
        }

        def allowed(name: str, value: str) -> frozenset[int]:
            """An ill-formed id (remediator/idents.py is the spec) exits 2; a well-formed one as the command does
            for it (an unknown incident: 2; the fake daemon says yes to anything: 0)."""
            _argv, _good, kinds, ok = commands[name]
            return frozenset(ok | {2}) if any(idents.matches(k, value) for k in kinds) else frozenset({2})

        jobs = []
        for name, (argv, good, _kinds, ok) in commands.items():
            jobs.append(Job(f"ids-{name}-good", argv(good), frozenset(ok), note=f"{name} {good!r}"))
            for k, value in enumerate(gen_cli.FIXED_IDS):
                jobs.append(Job(f"ids-{name}-fixed-{k:02d}", argv(value), allowed(name, value),
                                note=f"{name} {value[:60]!r}"))
        for k in range(n(160)):
            name = rnd.choice(list(commands))
            argv, good, _kinds, _ok = commands[name]
            value, notes = gen_cli.ident(rnd, good)
            jobs.append(Job(f"ids-{k:04d}", argv(value), allowed(name, value),
                            note=f"{name} {value[:60]!r} ({','.join(notes)})"))

        def leaked() -> list[str]:  # the daemon must only ever see requests for well-formed ids
            bad = []
            for answer in peer.answers.values():
                for path in answer.seen:
                    parts = path.split("/")
                    ok = len(parts) == 5 and parts[1] == "v1" and (
                        (parts[2] == "approvals" and (idents.matches("approval id", parts[3])
                                                      or idents.matches("incident id", parts[3])))
                        or (parts[2] == "hosts" and idents.matches("host name", parts[3])))
                    if not ok:
                        bad.append(f"the fake daemon was asked for {path[:120]!r}: an ill-formed id reached the API")
            return bad

        run_and_judge(world, "cli-ids", jobs, t0, len(jobs), after=leaked)


# ---- damaged state files -----------------------------------------------------------------------------------

def _place(case: gen_cli.StateCase, d: Path, valid: dict[str, bytes], world: World) -> Path:
    d.mkdir(parents=True)
    for f, data in valid.items():
        if f != case.target:
            (d / f).write_bytes(data)
    path = d / case.target
    if case.kind == "directory":
        path.mkdir()
        (path / "inside").write_text("x")
    elif case.kind == "fifo":
        os.mkfifo(path)
    elif case.kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.close()
    elif case.kind == "symlink":
        path.symlink_to(world.victim / "secret.txt")
    else:
        assert case.data is not None
        path.write_bytes(case.data)
    return path


def test_fuzz_cli_state_files(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:state")
    valid, live = valid_state(world.scratch / "valid")
    cases = gen_cli.state_cases(rnd, valid, n(60), str(world.scratch / "scratch.db"))
    jobs, before = [], {}
    for case in cases:
        path = _place(case, world.scratch / "states" / case.name, valid, world)
        before[case.name] = (path, fingerprint(path))
        cfg = str(config(world, f"state-{case.name}", state_dir=path.parent))
        journal = case.target == "journal.sqlite3"
        refused = frozenset({2}) if case.refuse else READ
        note = f"{case.target} {case.kind}"
        for k, argv in enumerate((["incidents"], ["incidents", "--json"], ["incidents", live], ["incidents", live, "--json"])):
            jobs.append(Job(f"{case.name}:incidents-{k}", [*argv, "--config", cfg], refused if journal else READ, note=note))
        for k, argv in enumerate((["status"], ["status", "--json"])):
            jobs.append(Job(f"{case.name}:status-{k}", [*argv, "--config", cfg], refused, note=note))
        if journal:
            jobs.append(Job(f"{case.name}:dry-run", ["run", "--config", cfg, "--host", "h@W@", "--dry-run",
                                                     "--runbook", RUNBOOK], frozenset({2}) if case.refuse else DRY_RUN,
                            note=note))
            if case.refuse:  # a resume that got past the journal would act on the stand-in host: only where refused
                jobs.append(Job(f"{case.name}:resume", ["resume", live, "--config", cfg], frozenset({2}), note=note))

    def kept() -> list[str]:  # a file that was refused is left exactly as it was (a journal a dry-run used may grow)
        return [f"{c.name}: {c.target} ({c.kind}) changed although it was refused" for c in cases
                if (c.refuse or c.target == "daemon.sqlite3") and fingerprint(before[c.name][0]) != before[c.name][1]]

    run_and_judge(world, "cli-state", jobs, t0, len(cases), after=kept)


# ---- special files and over-long names as paths --------------------------------------------------------------

def test_fuzz_cli_special_paths(tmp: Path) -> None:
    t0 = time.monotonic()
    world = World(tmp)
    sp = world.scratch / "special"
    sp.mkdir()
    for name in ("fifo.yaml", "fifo.log", "fifo.json", "rbdir/fifo-rb.yaml"):
        (sp / name).parent.mkdir(exist_ok=True)
        os.mkfifo(sp / name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sp / "sock.yaml"))
    s.listen(1)  # a live socket: an open() of it fails, a connect would succeed
    (sp / "link.yaml").symlink_to(sp / "fifo.yaml")
    (sp / "dir.yaml").mkdir()
    paths = [str(sp / "fifo.yaml"), str(sp / "fifo.log"), str(sp / "sock.yaml"), str(sp / "link.yaml"),
             str(sp / "dir.yaml"), "/dev/null", "/dev/zero", "/dev/urandom", "/dev/full", "/dev/stdin",
             "/proc/self/fd/0", "n" * 5000, "n" * 5000 + ".yaml", "a/" * 2100 + "x.yaml", str(sp / ("c" * 300)),
             "nope_name", "\udcff.yaml", "x\ny", "bad name", "-"]
    jobs = []
    for i, p in enumerate(paths):
        note = f"path {p[:60]!r}"
        jobs += [Job(f"sp-{i:02d}:validate", ["runbook", "validate", p], READ, note=note),
                 Job(f"sp-{i:02d}:graph", ["runbook", "graph", p], READ, note=note),
                 Job(f"sp-{i:02d}:check", ["config", "check", "--config", p], READ, note=note),
                 Job(f"sp-{i:02d}:check-env", ["config", "check"], READ, env={"REMEDIATOR_CONFIG": p}, note=note),
                 Job(f"sp-{i:02d}:incidents", ["incidents", "--config", p], READ, note=note),
                 Job(f"sp-{i:02d}:dry-run", ["run", "--config", str(world.config), "--host", "h@W@", "--dry-run",
                                             "--runbook", p], DRY_RUN, note=note)]
        if p != "-":  # `--log -` is stdin, allowed on purpose
            jobs.append(Job(f"sp-{i:02d}:diagnose", ["diagnose", "--log", p], frozenset({0, 2, 9}), note=note))
    inside = {"daemon_json": str(sp / "fifo.json"), "dev-daemon_json": "/dev/zero", "dir-daemon_json": str(sp / "dir.yaml")}
    for name, value in inside.items():
        cfg = config(world, f"special-{name}", host_extra=f"    daemon_json: {value}\n")
        text = cfg.read_text().replace(f"    daemon_json: {world.scratch}/daemon.json\n", "")
        cfg.write_text(text)
        jobs.append(Job(f"sp-cfg-{name}:dry-run", ["run", "--config", str(cfg), "--host", "h@W@", "--dry-run",
                                                   "--runbook", RUNBOOK], DRY_RUN, note=f"{name} {value}"))
        jobs.append(Job(f"sp-cfg-{name}:probe", ["probe", "--config", str(cfg), "--host", "h@W@", "--rounds", "1"],
                        frozenset({0, 2, 9}), note=f"{name} {value}"))
    rbdir = config(world, "special-rbdir", extra=f"runbook_dirs: [{sp / 'rbdir'}]\n")
    jobs.append(Job("sp-rbdir:dry-run", ["run", "--config", str(rbdir), "--host", "h@W@", "--dry-run", "--runbook",
                                         "fifo-rb"], DRY_RUN, note="a FIFO in runbook_dirs, by name"))
    try:
        run_and_judge(world, "cli-specials", jobs, t0, len(paths) + len(inside) + 1, limit=5.0)
    finally:
        s.close()


# ---- a broken daemon API -------------------------------------------------------------------------------------

FAMILIES = {
    "approvals": [["approvals"], ["approvals", "--json"]],
    "decide": [["approve", gen_cli.GOOD_APPROVAL], ["deny", gen_cli.GOOD_INCIDENT, "stop", "--by", "[bold]me"]],
    "host": [["pause", "h0", "--reason", "[/] x"], ["release", "h1"], ["resume-host", "h0"]],
}
SLOW = ("hold-silent", "drip-feed", "drip-headers")


def test_fuzz_cli_api_peer(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:api")
    jobs = []
    with Peer(world.scratch / "peer") as peer:
        for family, commands in FAMILIES.items():
            answers = gen_cli.fixed_answers(family) + gen_cli.mutated_answers(family, rnd, n(40))
            for a, answer in enumerate(answers):
                cfg = str(api_config(world, f"api-{family}-{a:03d}", peer.add(answer)))
                chosen = commands[:1] if answer.name in SLOW else commands if a < 24 else [rnd.choice(commands)]
                for k, argv in enumerate(chosen):
                    jobs.append(Job(f"api-{family}-{a:03d}-{k}", [*argv, "--config", cfg], API, note=answer.name))

        def in_time(job: Job, r: Result) -> list[str]:
            limit = API_TIMEOUT + 1.5
            return [f"took {r.seconds:.1f}s: more than daemon.api_timeout ({API_TIMEOUT:g}s) allows"] \
                if r.seconds > limit else []

        run_and_judge(world, "cli-api", jobs, t0, len(jobs), limit=6.0, check=in_time)


# ---- stdout that cannot take the output ----------------------------------------------------------------------

MODES = {
    "ascii": {"PYTHONIOENCODING": "ascii"},
    "latin-1": {"PYTHONIOENCODING": "latin-1"},
    "c-locale": {"LANG": "C", "LC_ALL": "C"},  # Python turns UTF-8 mode on by itself
    "c-ascii": {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},  # ASCII paths too
    "dev-full": {},
    "pipe-closed": {},
}


def _run(argv: list[str | bytes], mode: str, env: dict[str, str], cwd: Path) -> tuple[int | str, str]:
    env = {**env, **MODES[mode]}
    cmd = [sys.executable, "-m", "remediator", *argv]
    try:
        if mode == "dev-full":
            with open("/dev/full", "wb") as full:
                p = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=30, check=False)
        elif mode == "pipe-closed":
            r, w = os.pipe()
            os.close(r)  # the reader is gone before the first write: every write is EPIPE
            try:
                p = subprocess.run(cmd, stdout=w, stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=30, check=False)
            finally:
                os.close(w)
        else:
            p = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "hang", ""
    return p.returncode, p.stderr.decode(errors="replace")


def test_fuzz_cli_output(tmp: Path) -> None:
    t0 = time.monotonic()
    world = World(tmp)
    state = world.scratch / "état"
    valid_state(state)
    cfg = str(config(world, "output", state_dir=state))
    commands: dict[str, tuple[list[str | bytes], int, bool]] = {  # name -> argv, exit code, writes stdout
        "help": (["--help"], 0, True),
        "signatures": (["signatures"], 0, True),
        "check": (["config", "check", "--config", cfg], 0, True),
        "diagnose": (["diagnose", "--log", LOG], 9, True),
        "incidents": (["incidents", "--config", cfg], 0, True),
        "status": (["status", "--config", cfg], 0, True),
        "bad-id": (["incidents", b"\xff\xfe\xc3\xa9 x", "--config", cfg], 2, False),
    }
    modes = {  # each command under the stdouts that can break it (a subprocess each: ~0.7 s of CPU)
        "help": ("ascii", "dev-full", "pipe-closed"),
        "signatures": ("ascii", "latin-1", "dev-full", "pipe-closed"),
        "check": ("ascii", "dev-full"),
        "diagnose": ("dev-full", "pipe-closed"),
        "incidents": ("ascii", "latin-1", "c-locale", "c-ascii", "dev-full", "pipe-closed"),
        "status": ("ascii", "c-ascii", "dev-full", "pipe-closed"),
        "bad-id": ("ascii", "c-ascii", "pipe-closed"),
    }
    env = world.env()
    runs = [(name, mode) for name in commands for mode in modes[name]]
    with cf.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda nm: _run(commands[nm[0]][0], nm[1], env, world.scratch), runs))
    failures = []
    codes: dict[int | str, int] = {}
    for (name, mode), (code, err) in zip(runs, results, strict=True):
        codes[code] = codes.get(code, 0) + 1
        _argv, normal, writes = commands[name]
        want = ({2} if normal == 0 else {normal}) if mode == "dev-full" and writes else {normal}
        if mode == "c-ascii" and name in ("check", "incidents", "status"):
            want = {normal, 2}  # the state_dir's name (état) cannot be a path in ASCII: exit 2, said so
        problems = [] if code in want else [f"exit {code}, not {sorted(want)}"]
        if TRACEBACK.search(err) or EXC_LINE.search(err) or "Exception ignored" in err:
            problems.append(f"a traceback or exception on stderr: {err[-300:]!r}")
        if mode == "dev-full" and writes and "cannot write to stdout" not in err:
            problems.append(f"no one-line error about stdout: {err[-200:]!r}")
        if mode == "pipe-closed" and err.strip() and name != "bad-id":
            problems.append(f"a closed pipe is not quiet: {err[-200:]!r}")
        if problems:
            failures.append(f"{name} [{mode}]: {'; '.join(problems)}")
    STATS.append(f"fuzz cli-output: {len(runs)} subprocesses ({len(commands)} commands, {len(MODES)} kinds of stdout), "
                 f"{time.monotonic() - t0:.1f}s, exit codes {codes}, {len(failures)} failing")
    assert not failures and not world.unchanged(), "\n".join(failures[:40] + world.unchanged())
