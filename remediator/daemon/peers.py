"""Who is at the other end of an API connection: the peer's uid, from the kernel, on both listeners.

Role: on the unix socket, SO_PEERCRED names the peer's process and uid. Over TCP the kernel knows the owner of
the peer's socket too when the peer is on this machine (loopback): one exact sock_diag lookup (netlink,
SOCK_DIAG_BY_FAMILY, the connection's 4-tuple; no dump of the socket table, no /proc/net/tcp scan) returns the
uid that owns the client's end. So the per-client cap of daemon.server counts local users, not the address
127.0.0.1 that every local user shares. A remote peer, or a lookup that fails (the peer already gone, netlink
refused), is counted by its address as before.
Must not: trust anything the peer sends (only the kernel's answers), or block: the lookup has a 1 s timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import pwd
import socket
import struct
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
_NLMSG = struct.Struct("=LHHLL")  # struct nlmsghdr
_UID_AT = _NLMSG.size + 4 + 48 + 12  # inet_diag_msg: family..retrans, the sockid, expires/rqueue/wqueue; then uid


@dataclass(frozen=True)
class Peer:
    key: str  # what the per-client cap counts: "uid N" (unix socket, or a local TCP peer), else the address
    user: str | None  # the peer's user name (unix socket: from its uid), None over TCP (the token names it)
    pid: int | None


def peer_of(sock: socket.socket) -> Peer:
    if sock.family == socket.AF_UNIX:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid {uid}"
        return Peer(f"uid {uid}", user, pid)
    remote, local = sock.getpeername(), sock.getsockname()
    uid = tcp_owner(remote, local) if ipaddress.ip_address(remote[0]).is_loopback else None
    return Peer(f"uid {uid}" if uid is not None else str(remote[0]), None, None)


def tcp_owner(local: tuple[str, int] | tuple[str, int, int, int], remote: tuple[str, int] | tuple[str, int, int, int],
              ) -> int | None:
    """The uid owning the TCP socket of this machine whose own end is `local` and whose other end is `remote`;
    None when there is none (or the kernel cannot be asked)."""
    family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET

    def addr(host: str) -> bytes:
        return socket.inet_pton(family, host).ljust(16, b"\0")

    req = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)  # every TCP state
           + struct.pack("!HH", local[1], remote[1]) + addr(local[0]) + addr(remote[0])
           + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))  # any interface, no cookie
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            nl.send(_NLMSG.pack(_NLMSG.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + req)
            data = nl.recv(8192)
    except OSError:
        return None
    with contextlib.suppress(struct.error):
        _length, kind = struct.unpack_from("=LH", data)
        if kind == SOCK_DIAG_BY_FAMILY:
            return int(struct.unpack_from("=I", data, _UID_AT)[0])
    return None  # NLMSG_ERROR (ENOENT: the peer is gone) or a short answer
