"""Test instrument (not a double of any library): blocks and records every outbound network attempt.

Put this folder first on PYTHONPATH of a child process and set SOCKET_GUARD_LOG to a file: each connection
to anything but this machine, and each name lookup of another host, is appended to the log and then fails
as a blocked network would. Loopback and Unix sockets stay open (process groups use them).
"""

import os
import socket

_LOG = os.environ.get("SOCKET_GUARD_LOG")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None, socket.gethostname()}


def _record(what: str) -> None:
    import traceback

    frames = [frame for frame in traceback.extract_stack()[-60:-2] if "http" not in frame.filename]  # the caller, not httpx
    where = " <- ".join(f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}" for frame in frames)
    with open(_LOG, "a", encoding="utf-8") as handle:
        handle.write(f"{what}  (from {where})\n")


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = address[0]
    return host in _LOCAL_HOSTS or str(host).startswith("127.")


if _LOG:
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if not _is_local(address):
            _record(f"connect {address!r}")
            raise OSError(101, "Network is unreachable (blocked by the test's socket guard)")
        return _connect(self, address)

    def connect_ex(self, address):
        if not _is_local(address):
            _record(f"connect {address!r}")
            return 101
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL_HOSTS and not str(host).startswith("127."):
            _record(f"lookup {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "blocked by the test's socket guard")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
