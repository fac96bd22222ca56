"""The fuzz suite (issue 9): seeded hostile runbooks, configs and logs through the read-only commands.

Per run, by default: 1,000 mutated runbooks (`runbook validate` and `run --dry-run --runbook`), 500 mutated
configs (`config check`, `incidents`), 200 mutated logs (`diagnose --log FILE` and `--log -`), plus a fixed
set of hostile arguments. Each input runs under a time limit in a worker under a memory limit and must end
with a documented exit code, no traceback, user text printed as text, and nothing changed outside the
scratch directory (a victim directory next to it, which the hostile paths aim at, keeps its digest).

    REMEDIATOR_FUZZ_SEED=9           the seed (a failure names it; the same seed gives the same inputs)
    REMEDIATOR_FUZZ_SCALE=1          multiplies the counts (0.1 for a quick look, 10 for a long night)
    REMEDIATOR_FUZZ_ONLY=runbook-00042,log-00007   only these inputs (replay)
    REMEDIATOR_FUZZ_WORKERS=2  REMEDIATOR_FUZZ_LIMIT=10 (s of CPU per input; 3x that of wall time)  REMEDIATOR_FUZZ_MEM_MB=512
    REMEDIATOR_FUZZ_OUT=.fuzz-failures   where failing inputs and their replay.sh are written
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from remediator import exitcodes
from tests.fuzz import gen
from tests.fuzz.harness import Job, Result, digest, judge, run_jobs, save_reproducers

SEED = int(os.environ.get("REMEDIATOR_FUZZ_SEED", "9"))
SCALE = float(os.environ.get("REMEDIATOR_FUZZ_SCALE", "1"))
ONLY = {x for x in os.environ.get("REMEDIATOR_FUZZ_ONLY", "").split(",") if x}
WORKERS = int(os.environ.get("REMEDIATOR_FUZZ_WORKERS", "2"))
LIMIT = float(os.environ.get("REMEDIATOR_FUZZ_LIMIT", "10"))
MEM_MB = int(os.environ.get("REMEDIATOR_FUZZ_MEM_MB", "512"))
OUT = Path(os.environ.get("REMEDIATOR_FUZZ_OUT", str(gen.REPO / ".fuzz-failures")))
COUNTS = {"runbook": 1000, "config": 500, "log": 200}
STATS: list[str] = []  # printed at the end of the session (tests/fuzz/conftest.py)

# what each command may exit with (README "Fuzzing"); read-only commands never 1 (host changed), 5 or 7
VALIDATE = frozenset({0, 2})
DRY_RUN = frozenset({0, 2, 4, 6})  # planned or nothing to do / bad input / refused / escalated
CONFIG = frozenset({0, 2})
DIAGNOSE = frozenset({exitcodes.OK, exitcodes.SICK, exitcodes.BAD_INPUT})  # healthy / not healthy / bad input
NAME_SUFFIXES = ["", "", "", "", "-[bold]b[/bold]", "-[/]", "-[link=file:x]l[/link]", "-:smile:", "-\\[x]", "-[red",
                 "-é", "-" + "n" * 200]


def count(kind: str) -> int:
    return max(1, math.ceil(COUNTS[kind] * SCALE))


class World:
    """tmp/scratch: everything the inputs may touch (HOME, TMPDIR, cwd, state dirs, roots, the inputs);
    tmp/victim: what hostile paths aim at, never to change."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.scratch, self.victim = tmp, tmp / "scratch", tmp / "victim"
        v, s = self.victim, self.scratch
        for d in ("sub/deeper", "containerd/daemon", "libcontainerd"):
            (v / d).mkdir(parents=True)
        (v / "secret.txt").write_text("do not touch\n")
        (v / "sub/deeper/file").write_bytes(b"\0" * 100)
        (v / "docker.pid").write_text("1\n")
        (v / "link").symlink_to("secret.txt")
        for d in ("home", "tmp", "inputs", "data/containerd/daemon", "exec/containerd", "exec/runtime-runc", "logs"):
            (s / d).mkdir(parents=True)
        (s / "escape").symlink_to(v)
        (s / "data/escape").symlink_to(v)
        (s / "afile").write_text("a regular file where a directory is expected\n")
        stub = s / "dockerd"
        stub.write_text("#!/bin/sh\necho 'Docker version 20.10.24+dfsg1, build 297e128'\n")
        stub.chmod(0o755)
        hosts = "".join(f"""
  - name: h{n}
    docker_host: unix://{s}/docker-{n}.sock
    data_root: {s}/data
    exec_root: {s}/exec
    daemon_json: {s}/daemon.json
    dockerd: {stub}
    service:
      kind: process
      argv: [{stub}, --data-root, {s}/data, --exec-root, {s}/exec, -H, "unix://{s}/docker-{n}.sock", --pidfile, {s}/docker-{n}.pid]
      pidfile: {s}/docker-{n}.pid
      log: {s}/dockerd-{n}.log
""" for n in range(WORKERS))
        self.config = s / "base.yaml"
        self.config.write_text(f"state_dir: {s}/state\nprobe: {{timeout: 0.2, interval: 0, debounce: 1}}\nhosts:{hosts}")
        self.places = gen.Places(s, v)
        self.before = (digest(v), sorted(os.listdir(tmp)))

    def env(self) -> dict[str, str]:
        s = str(self.scratch)
        keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV") if k in os.environ}
        return {**keep, "HOME": f"{s}/home", "TMPDIR": f"{s}/tmp", "REMEDIATOR_CONFIG": str(self.config),
                "XDG_CONFIG_HOME": f"{s}/home/.config", "XDG_CACHE_HOME": f"{s}/home/.cache", "COLUMNS": "1000",
                "MALLOC_ARENA_MAX": "2", "PYTHONFAULTHANDLER": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(gen.REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def write(self, case: gen.Case, rnd: random.Random, ext: str) -> Path:
        path = self.scratch / "inputs" / f"{case.name}{rnd.choice(NAME_SUFFIXES)}{ext}"  # '[/]': a directory '[' and ']'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)
        return path

    def unchanged(self) -> list[str]:
        problems = []
        if digest(self.victim) != self.before[0]:
            problems.append(f"the victim directory {self.victim} (outside the scratch directory) changed")
        now = sorted(os.listdir(self.tmp))
        if now != self.before[1]:
            problems.append(f"the scratch directory's parent changed: {self.before[1]} -> {now}")
        return problems


def literal(path: Path) -> str | None:
    """A file name with markup in it must come out verbatim."""
    return str(path) if any(c in path.name for c in "[]:\\") else None


def run_and_judge(world: World, kind: str, jobs: list[Job], started: float, inputs: int, *, limit: float = LIMIT,
                  check: Callable[[Job, Result], list[str]] | None = None,
                  after: Callable[[], list[str]] | None = None) -> None:
    """Run the jobs and fail on any problem: judge()'s, the class's own `check` per result, `after`'s once."""
    if ONLY:
        jobs = [j for j in jobs if j.id.split(":")[0] in ONLY]
    results = run_jobs(jobs, logdir=world.scratch / "logs", env=world.env(), cwd=world.scratch, workers=WORKERS,
                       mem_mb=MEM_MB, limit=limit, env_for=lambda n: {"FUZZ_WORKER": str(n)})
    failures: list[tuple[Job, Result, list[str]]] = []
    for job in jobs:
        r = results.get(job.id) or Result(job.id, "lost", detail="no result came back (a harness bug)")
        problems = judge(job, r)
        if check is not None and not problems:
            problems = check(job, r)
        if problems:
            failures.append((job, r, problems))
    outside = world.unchanged() + (after() if after is not None else [])
    codes: dict[int | None, int] = {}
    for r in results.values():
        codes[r.code] = codes.get(r.code, 0) + 1
    slowest = max(results.values(), key=lambda r: r.seconds, default=None)
    STATS.append(f"fuzz {kind}: {inputs} inputs, {len(jobs)} invocations, seed {SEED}, {time.monotonic() - started:.1f}s, "
                 f"exit codes {dict(sorted(codes.items(), key=lambda kv: str(kv[0])))}, "
                 f"slowest {slowest.id if slowest else '-'} {slowest.seconds if slowest else 0:.2f}s, "
                 f"{len(failures)} failing")
    lines = save_reproducers(failures, OUT / f"seed-{SEED}" / kind) if failures else []
    assert not failures and not outside, "\n".join(
        [f"{len(failures)} of {len(jobs)} {kind} invocations failed (seed {SEED}); reproducers in {OUT}:"]
        + lines[:25] + outside)


def test_fuzz_runbooks(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:runbook")
    jobs = []
    for case in gen.runbooks(rnd, world.places, count("runbook")):
        path = world.write(case, rnd, ".yaml")
        note = ",".join(case.mutations)
        jobs.append(Job(f"{case.name}:validate", ["runbook", "validate", str(path)], VALIDATE, str(path),
                        literal=literal(path), note=note))
        jobs.append(Job(f"{case.name}:dry-run", ["run", "--config", str(world.config), "--host", "h@W@", "--dry-run",
                                                  "--runbook", str(path)], DRY_RUN, str(path), note=note))
    jobs += argument_jobs(world)
    run_and_judge(world, "runbook", jobs, t0, count("runbook"))


def test_fuzz_configs(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:config")
    jobs = []
    ids = ["[/]", "[bold]x", "../../etc", "", "x" * 5000, "20260101T000000-abcdef", "'; DROP TABLE incidents; --", "%", "_"]
    for i, case in enumerate(gen.configs(rnd, world.places, count("config"))):
        path = world.write(case, rnd, ".yaml")
        note = ",".join(case.mutations)
        if i % 3 == 2:  # the config named by $REMEDIATOR_CONFIG rather than --config
            jobs.append(Job(f"{case.name}:check", ["config", "check"], CONFIG, str(path), env={"REMEDIATOR_CONFIG": str(path)},
                            literal=literal(path), note=note))
        else:
            jobs.append(Job(f"{case.name}:check", ["config", "check", "--config", str(path)], CONFIG, str(path),
                            literal=literal(path), note=note))
        extra = rnd.choice([[], ["--json"], [rnd.choice(ids)], [rnd.choice(ids), "--json"]])
        jobs.append(Job(f"{case.name}:incidents", ["incidents", "--config", str(path), *extra],
                        frozenset({2}) if extra and extra[0] != "--json" else CONFIG, str(path), note=note))
    run_and_judge(world, "config", jobs, t0, count("config"))


def test_fuzz_logs(tmp: Path) -> None:
    t0 = time.monotonic()
    world, rnd = World(tmp), random.Random(f"{SEED}:log")
    jobs = []
    for case in gen.logs(rnd, count("log")):
        path = world.write(case, rnd, ".log")
        note = ",".join(case.mutations)
        as_json = ["--json"] if rnd.random() < 0.3 else []
        jobs.append(Job(f"{case.name}:file", ["diagnose", "--log", str(path), *as_json], DIAGNOSE, str(path), note=note))
        jobs.append(Job(f"{case.name}:stdin", ["diagnose", "--log", "-", *as_json], DIAGNOSE, str(path), stdin=str(path), note=note))
    run_and_judge(world, "log", jobs, t0, count("log"))


def argument_jobs(world: World) -> list[Job]:
    """Hostile arguments rather than hostile file contents: special files, directories, names, ids."""
    s, v, cfg = world.scratch, world.victim, str(world.config)
    files = ["/dev/zero", "/dev/null", str(s), str(s / "nope.yaml"), "/proc/self/environ", str(s / "escape/secret.txt"),
             str(s / "escape"), "/proc/self/root" + str(v / "secret.txt"), str(s / ("c" * 255)), str(s / ("d" * 300) / "x.yaml"),
             "", "-", "//", "[/]", "[bold]x", "../../../../etc/passwd", "docker-libcontainerd", "nope", ".yaml", str(s / "afile/x.yaml")]
    jobs = []
    for i, f in enumerate(files):
        jobs.append(Job(f"arg-{i:02d}:validate", ["runbook", "validate", f], VALIDATE, note=f"argument {f!r}"))
        jobs.append(Job(f"arg-{i:02d}:graph", ["runbook", "graph", f], VALIDATE, note=f"argument {f!r}"))
        jobs.append(Job(f"arg-{i:02d}:check", ["config", "check", "--config", f], CONFIG, note=f"argument {f!r}"))
        jobs.append(Job(f"arg-{i:02d}:diagnose", ["diagnose", "--log", f], DIAGNOSE, note=f"argument {f!r}"))
        jobs.append(Job(f"arg-{i:02d}:dry-run", ["run", "--config", cfg, "--host", "h@W@", "--dry-run", "--runbook", f],
                        DRY_RUN, note=f"argument {f!r}"))
    for i, bad in enumerate(["[/]", "[bold]x[/bold]", "x" * 300, "", "h0\0", "-"]):
        jobs.append(Job(f"argname-{i}:incident", ["incidents", "--config", cfg, bad], frozenset({2}), note=f"id {bad!r}"))
        jobs.append(Job(f"argname-{i}:resume", ["resume", bad, "--config", cfg], frozenset({2}), note=f"id {bad!r}"))
        jobs.append(Job(f"argname-{i}:host", ["run", "--config", cfg, "--host", bad, "--dry-run"], frozenset({2}), note=f"host {bad!r}"))
        jobs.append(Job(f"argname-{i}:probe", ["probe", "--config", cfg, "--host", bad], frozenset({2}), note=f"host {bad!r}"))
    jobs.append(Job("arg-incidents-list", ["incidents", "--config", cfg], CONFIG, note="the journal the dry-runs wrote"))
    return jobs


def test_the_oracle_catches_what_it_must(tmp: Path) -> None:
    """Planted failures (tests/fuzz/planted.py) are each caught and charged to the right input; a run continues
    past a worker's death; the victim digest sees a write."""
    world = World(tmp)
    plan = {"ok": (frozenset({0}), []), "exit3": (frozenset({0, 2}), ["exit code 3"]),
            "boom": (frozenset({0, 2}), ["uncaught exception", "KeyError"]),
            "printtb": (frozenset({0}), ["'Traceback' in stderr"]), "excline": (frozenset({0}), ["a Python exception line"]),
            "markup": (frozenset({0}), ["not in the output verbatim"]), "hang": (frozenset({0}), ["timeout"]),
            "hang_c": (frozenset({0}), ["hang"]), "hog": (frozenset({0}), ["MemoryError"]),
            "segv": (frozenset({0}), ["died", "signal 11"]), "after": (frozenset({0}), [])}
    jobs = [Job(name, [name, str(world.victim / "secret.txt")] if name == "touch" else [name], allowed,
                literal="[bold]x[/bold]" if name == "markup" else None) for name, (allowed, _) in plan.items()]
    results = run_jobs(jobs, logdir=world.scratch / "logs", env=world.env(), cwd=world.scratch, workers=2, mem_mb=384,
                       limit=1.0, grace=2.0, target="tests.fuzz.planted:cli")
    for job in jobs:
        problems = "; ".join(judge(job, results[job.id]))
        for want in plan[job.id][1]:
            assert want in problems, (job.id, problems)
        if not plan[job.id][1]:
            assert problems == "", (job.id, problems)
    assert world.unchanged() == []
    (world.victim / "secret.txt").write_text("changed\n")
    assert world.unchanged() != []
