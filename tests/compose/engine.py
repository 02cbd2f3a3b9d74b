"""A Docker engine for the compose tests: the tools installed when missing, `dockerd` started
when no engine answers, and the host's network put back as it was when the tests end.

    python -m pytest -m compose tests/compose

Starting dockerd changes the host: `net.ipv4.ip_forward` 0 -> 1, iptables' FORWARD policy ->
DROP, DOCKER* chains in the filter and nat tables, a `docker0` bridge, and a network namespace
it leaves mounted at /run/docker/netns/default when it stops. `HostNetwork` records these
before the start and restores them after the stop. The image cache (/var/lib/docker)
stays, so the next run reuses its images. An engine this harness did not start is used as it
is and left alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
}
TABLES = ("filter", "nat")


class EngineUnavailable(RuntimeError):
    """No engine answers and none can be started here; the message says why, in one line."""


def run(*argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return run("docker", "info", "--format", "{{.ServerVersion}}", check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def install_missing(tools: list[str]) -> None:
    """Install the Debian packages of `tools` not on PATH (dockerd: docker.io, with iptables),
    without recommends, which would pull in packages that start services."""
    missing = sorted({PACKAGES[tool] for tool in tools if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise EngineUnavailable(f"not root, so cannot apt-get install {' '.join(missing)}")
    if shutil.which("apt-get") is None:
        raise EngineUnavailable(f"no apt-get to install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EngineUnavailable(f"apt-get install {' '.join(missing)} failed: {last}")


@dataclass(frozen=True)
class HostNetwork:
    """What dockerd changes on the host (its network, and a mount), as it was."""

    ip_forward: str
    forward_policy: str
    rules: dict[str, frozenset[str]]
    links: frozenset[str]
    mounts: frozenset[str]

    @classmethod
    def read(cls) -> HostNetwork:
        rules = {table: frozenset(iptables_rules(table)) for table in TABLES}
        policy = next(r.split()[2] for r in rules["filter"] if r.startswith("-P FORWARD "))
        links, mounts = frozenset(link_names()), frozenset(docker_mounts())
        return cls(read_ip_forward(), policy, rules, links, mounts)

    def restore(self) -> None:
        """Undo what dockerd added: its rules and DOCKER* chains, its bridges, its mounts, the
        FORWARD policy and ip_forward."""
        for table in TABLES:
            remove_added(table, self.rules[table])
        run("iptables", "-P", "FORWARD", self.forward_policy, check=False)
        for link in sorted(set(link_names()) - self.links):
            run("ip", "link", "delete", link, check=False)
        # dockerd leaves its network namespace mounted at /run/docker/netns/default
        for mount in sorted(set(docker_mounts()) - self.mounts, reverse=True):
            run("umount", mount, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(self.ip_forward + "\n")

    def differences(self) -> list[str]:
        """What differs from now; empty when the host is as it was."""
        now = HostNetwork.read()
        found = [f"ip_forward {self.ip_forward} -> {now.ip_forward}"] * (
            now.ip_forward != self.ip_forward
        )
        for table in TABLES:
            found += [f"{table}: {r}" for r in sorted(now.rules[table] ^ self.rules[table])]
        found += [f"link {name}" for name in sorted(now.links ^ self.links)]
        found += [f"mount {path}" for path in sorted(now.mounts ^ self.mounts)]
        return found


def remove_added(table: str, before: frozenset[str]) -> None:
    """Delete the rules and chains of `table` that are not in `before`; rules first, as a
    chain still referenced cannot be deleted."""
    added = [rule for rule in iptables_rules(table) if rule not in before]
    for rule in added:
        if rule.startswith("-A "):
            run("iptables", "-t", table, "-D", *rule.split()[1:], check=False)
    chains = [rule.split()[1] for rule in added if rule.startswith("-N ")]
    for chain in chains:
        run("iptables", "-t", table, "-F", chain, check=False)
    for chain in chains:
        run("iptables", "-t", table, "-X", chain, check=False)


def read_ip_forward() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


def iptables_rules(table: str) -> list[str]:
    return run("iptables", "-t", table, "-S").stdout.splitlines()


def link_names() -> list[str]:
    # `ip -o link` lines: "4: eth0: <...>"; a veth shows as "veth1@if5".
    lines = run("ip", "-o", "link").stdout.splitlines()
    return [line.split(":")[1].strip().split("@")[0] for line in lines]


def docker_mounts() -> list[str]:
    """Mount points under Docker's folders (a field of /proc/self/mounts escapes spaces)."""
    lines = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in lines]
    return [
        p for p in points if p.startswith(("/run/docker", "/var/run/docker", "/var/lib/docker"))
    ]


class Dockerd:
    """A dockerd this harness started, and the host network as it was before."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.host = HostNetwork.read()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["dockerd"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not engine_answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                raise EngineUnavailable(f"dockerd did not start: {' '.join(tail)}")
            time.sleep(0.5)

    def stop(self) -> list[str]:
        """Stop this dockerd (it stops the containerd it started), restore the host's
        network; returns what still differs (empty when all is back)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.host.restore()
        return self.host.differences()


def why_no_engine() -> str | None:
    """Why no engine can be had here, found without starting one; None when one answers or
    start_engine() may start one."""
    if engine_answers():
        return None
    if os.geteuid() != 0:
        return "no Docker engine answers, and starting dockerd needs root"
    if shutil.which("dockerd") is None and shutil.which("apt-get") is None:
        return "no Docker engine answers, no dockerd, and no apt-get to install it"
    return None


def start_engine(log: Path) -> Dockerd | None:
    """Make an engine answer and docker-compose run: None when an engine already answered,
    else the dockerd started here. Raises EngineUnavailable, saying why, when neither works."""
    if engine_answers():
        install_missing(["docker-compose"])
        return None
    install_missing(["dockerd", "docker-compose"])
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers, and starting dockerd needs root")
    for tool in ("docker", "iptables", "ip"):
        if shutil.which(tool) is None:
            raise EngineUnavailable(f"no Docker engine answers and {tool} is not installed")
    return Dockerd(log)
