"""Stand-ins for `systemctl` and `journalctl` that drive a real sandbox dockerd the way systemd would.

Only the process manager is faked: dockerd, containerd, the shims and the containers are real. The fake
systemctl logs every call, answers `show -p MainPID --value` from dockerd's pidfile, queues `stop` as
SIGTERM then SIGCONT (what systemd sends), and `start` spawns the unit's ExecStart detached. The fake
journalctl serves the unit's log with byte offsets as journald cursors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SYSTEMCTL = '''#!{python}
import os, signal, subprocess, sys
PIDFILE, LOG, ARGV, CALLS = {pidfile!r}, {log!r}, {argv!r}, {calls!r}
args = sys.argv[1:]
with open(CALLS, "a") as fh:
    fh.write(" ".join(args) + "\\n")

def main_pid():
    try:
        pid = int(open(PIDFILE).read().strip())
        state = open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return 0
    return 0 if state in "ZX" else pid

STATE = CALLS + ".state"  # what the last stop/start asked for: an admin stop leaves the unit inactive
if args[:2] == ["show", "-p"] and "MainPID" in args:
    print(main_pid())
elif args[:2] == ["show", "-p"]:
    asked = open(STATE).read() if os.path.exists(STATE) else "start"
    if main_pid():
        print("ActiveState=active\\nSubState=running\\nResult=success\\nNRestarts=0")
    elif asked == "stop":
        print("ActiveState=inactive\\nSubState=dead\\nResult=success\\nNRestarts=0")
    else:
        print("ActiveState=failed\\nSubState=failed\\nResult=exit-code\\nNRestarts=0")
elif args[0] == "reset-failed":
    pass
elif args[0] == "stop":
    open(STATE, "w").write("stop")
    pid = main_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
elif args[0] == "start":
    open(STATE, "w").write("start")
    if not main_pid():
        subprocess.Popen(ARGV, stdin=subprocess.DEVNULL, stdout=open(LOG, "ab"), stderr=subprocess.STDOUT,
                         start_new_session=True, close_fds=True)
else:
    sys.exit(1)
'''

JOURNALCTL = '''#!{python}
import sys
args = sys.argv[1:]
data = open({log!r}, "rb").read()
if "--after-cursor" in args:
    out = data[int(args[args.index("--after-cursor") + 1]):]
elif "-n" in args:
    out = b"".join(data.splitlines(keepends=True)[-int(args[args.index("-n") + 1]):])
else:
    out = data
sys.stdout.write(out.decode(errors="replace"))
if "--show-cursor" in args and out:
    sys.stdout.write(f"-- cursor: {{len(data)}}\\n")
'''


def install(root: Path, *, pidfile: str, log: str, argv: list[str]) -> tuple[str, str, Path]:
    """Write both fakes under root; return (systemctl, journalctl, the call log)."""
    calls = root / "systemctl.calls"
    paths = []
    for name, text in (("systemctl", SYSTEMCTL), ("journalctl", JOURNALCTL)):
        path = root / f"fake-{name}"
        path.write_text(text.format(python=sys.executable, pidfile=pidfile, log=log, argv=argv, calls=str(calls)))
        os.chmod(path, 0o755)
        paths.append(str(path))
    return paths[0], paths[1], calls
