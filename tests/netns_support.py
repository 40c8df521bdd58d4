"""Network namespaces as hosts for tests (no tests here): two "hosts" joined by a veth pair, and a partition.

    with linked_hosts() as link:          # skips (fails under CI) when `ip netns` is not permitted
        subprocess.Popen([*link.server.exec_prefix, sys.executable, ...])   # runs inside the first host
        link.cut()                        # the second host's end goes down: nothing passes
        link.heal()

Each host is a network namespace with its own loopback; the pair carries 10.A.B.1 (first host) and
10.A.B.2 (second), /30, and nothing else: the hosts cannot reach the machine's own addresses or each
other's loopback. Names carry the test process's pid and a random part, so parallel sessions do not
collide. The namespaces (and with them the veth pair) are deleted when the block ends, whatever happens;
processes still inside them must be ended by the caller first (the block's user starts them).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


class NetnsUnavailable(Exception):
    """`ip netns` cannot be used here: `str()` says why."""


@dataclass(frozen=True)
class Host:
    namespace: str
    device: str  # its end of the veth pair
    address: str  # on that end

    @property
    def exec_prefix(self) -> list[str]:
        """Put before a command to run it inside this host."""
        return ["ip", "netns", "exec", self.namespace]


@dataclass(frozen=True)
class Link:
    server: Host  # the first host
    other: Host  # the second host

    def cut(self) -> None:
        """Partition: the second host's end goes down (the first host's stays up, as a peer would see it)."""
        _ip("-n", self.other.namespace, "link", "set", self.other.device, "down")

    def heal(self) -> None:
        _ip("-n", self.other.namespace, "link", "set", self.other.device, "up")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.returncode}")


def _delete(namespace: str) -> None:
    subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=30)


@contextmanager
def linked_hosts() -> Iterator[Link]:
    """Two namespaces joined by a veth pair; skips the test (fails it when $CI is set) if that is not possible."""
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    first, second = f"plue-s{tag}", f"plue-r{tag}"
    subnet = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}"
    # Interface names are at most 15 bytes: "ps" / "pr" and the tag (up to 9 characters).
    link = Link(Host(first, f"ps{tag}", f"{subnet}.1"), Host(second, f"pr{tag}", f"{subnet}.2"))
    made: list[str] = []
    try:
        try:
            for namespace in (first, second):
                _ip("netns", "add", namespace)
                made.append(namespace)
            _ip("link", "add", link.server.device, "type", "veth", "peer", "name", link.other.device)
            for host in (link.server, link.other):
                _ip("link", "set", host.device, "netns", host.namespace)
                _ip("-n", host.namespace, "addr", "add", f"{host.address}/30", "dev", host.device)
                _ip("-n", host.namespace, "link", "set", host.device, "up")
                _ip("-n", host.namespace, "link", "set", "lo", "up")
        except (NetnsUnavailable, OSError, subprocess.TimeoutExpired) as exc:
            reason = f"network namespaces are not available here: {exc}"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
        yield link
    finally:
        for namespace in made:
            _delete(namespace)
        # A pair whose ends never moved into a namespace would outlive them: remove it if it is there.
        subprocess.run(["ip", "link", "delete", link.server.device], capture_output=True, timeout=30)
