"""Who holds a running job's lease, and whether that holder is known to be gone.

An owner is ``<host>:<pid>:<token>``; the token is random per process, so a new process that
happens to get the same pid (pid 1 in a container, say) is never mistaken for its predecessor.
"""

from __future__ import annotations

import os
import socket
import uuid

_tokens: dict[int, str] = {}


def current_owner() -> str:
    pid = os.getpid()  # per call: a forked worker is another owner
    token = _tokens.setdefault(pid, uuid.uuid4().hex[:12])
    return f"{socket.gethostname()}:{pid}:{token}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    return True


def owner_is_gone(owner: str | None) -> bool:
    """True only when the owner was a process on this host that no longer runs.

    A lease held on another host, or by a live process, is left to expire: it may be running.
    """
    if not owner:
        return False
    try:
        host, pid_text, token = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return token != _tokens.get(pid)
    return not _pid_alive(pid)
