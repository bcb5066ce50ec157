"""Resident memory of a process tree (a `make up` stack), summed and broken down by process.

RSS counts every page a process maps, so the pages a gunicorn master shares with its forked
workers are counted once per process; PSS divides each shared page between its sharers,
so its sum is what the tree really occupies. Both are read from /proc (Linux).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

# What a process of the stack is, by a word of its command line (first match wins).
KINDS = (
    ("redis-server", "Redis"),
    ("devstack.py", "supervisor (scripts/devstack.py)"),
    ("aiosmtpd", "mail catcher (aiosmtpd)"),
    ("gateway_service", "gateway"),
    ("auth_service", "auth"),
    ("content_service", "content"),
)
SERVICES = ("gateway", "auth", "content")


@dataclass
class StackMemory:
    # kind -> (processes, RSS KiB, PSS KiB)
    kinds: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    @property
    def rss_mib(self) -> float:
        return sum(kind[1] for kind in self.kinds.values()) / 1024

    @property
    def pss_mib(self) -> float:
        return sum(kind[2] for kind in self.kinds.values()) / 1024

    def rows(self) -> list[tuple[str, int, float, float]]:
        return [
            (name, count, rss / 1024, pss / 1024)
            for name, (count, rss, pss) in sorted(self.kinds.items())
        ]


def stack_memory(root: int) -> StackMemory:
    memory = StackMemory()
    for pid in _tree(root):
        kind = _kind(pid)
        rss, pss = _kib(pid, "status", "VmRSS:"), _kib(pid, "smaps_rollup", "Pss:")
        if rss is None:
            continue  # gone meanwhile
        entry = memory.kinds[kind]
        entry[0] += 1
        entry[1] += rss
        entry[2] += pss or 0
    return memory


def _tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def _kind(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "other"
    for word, kind in KINDS:
        if word in command:
            if kind not in SERVICES:
                return kind
            forked = _parent_kind(pid) == kind
            return f"{kind} (gunicorn {'workers' if forked else 'master'})"
    return command.split(" ", 1)[0].rsplit("/", 1)[-1] or "other"


def _parent_kind(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        command = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    for word, kind in KINDS:
        if word in command:
            return kind
    return None


def _kib(pid: int, name: str, label: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(label):
                return int(line.split()[1])
    except OSError:
        return None
    return 0
