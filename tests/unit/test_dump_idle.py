"""Go's own goroutines park for hours in every healthy daemon: a dump fragment that shows only them is no wedge.
(Set J's 966 read dockerd-wedged only because goroutine 17 sat 3101 minutes "in a syscall".)"""

from __future__ import annotations

from remediator.detect import dumps

IDLE = """dockerd[1802]: goroutine 11 [running]:
github.com/docker/docker/pkg/signal.DumpStacks()
\t/go/src/github.com/docker/docker/pkg/signal/trap.go:74 +0x98

goroutine 1 [chan receive, 3098 minutes]:
main.(*DaemonCli).start(0xc8204220c0, 0x0, 0x0)
\t/go/src/github.com/docker/docker/cmd/dockerd/daemon.go:308 +0x2274

goroutine 17 [syscall, 3101 minutes, locked to thread]:
runtime.goexit()
\t/usr/local/go/src/runtime/asm_amd64.s:1998 +0x1

goroutine 6 [syscall, 3101 minutes]:
os/signal.signal_recv(0x7f36aecf71)
\t/usr/local/go/src/runtime/sigqueue.go:116 +0x132
"""

HELD = IDLE + """
goroutine 88 [semacquire, 42 minutes]:
sync.runtime_Semacquire(0xc8203e2b2c)
\t/usr/local/go/src/runtime/sema.go:47 +0x26
sync.(*Mutex).Lock(0xc8203e2b28)
\t/usr/local/go/src/sync/mutex.go:83 +0x1c4
github.com/docker/docker/container.(*State).Lock(0xc8203e2b28)
\t/go/src/github.com/docker/docker/container/state.go:200 +0x2a
"""


def test_a_fragment_of_only_gos_own_parked_goroutines_is_no_wedge() -> None:
    j = dumps.judge(IDLE)
    assert j is not None and j.verdict is None, j


def test_a_daemon_goroutine_held_on_a_lock_beside_them_still_is() -> None:
    j = dumps.judge(HELD)
    assert j is not None and j.verdict == "dockerd-wedged", j
