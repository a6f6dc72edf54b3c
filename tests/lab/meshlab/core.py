# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared pieces of the lab CLI: configuration, errors, processes, waiting.

Everything here talks only to loopback and to the lab's own bridge addresses.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

LAB_DIR = Path(__file__).resolve().parent.parent          # tests/lab
REPO = LAB_DIR.parent.parent                               # repository root

T = TypeVar("T")


class LabError(Exception):
    """A lab step failed. `step` names it, `hint` says what to do."""

    def __init__(self, step: str, message: str, hint: str = "") -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.hint = hint


def read_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (LAB_DIR / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Config:
    """Where the lab keeps things and which addresses it uses."""

    state: Path
    cache: Path
    bridge: str = "mlab0"
    host_ip: str = "10.213.0.1"
    prefix: int = 24
    vm_base: int = 10  # VM n gets 10.213.0.(vm_base + n)
    apiserver_port: int = 6443
    etcd_client_port: int = 23790
    etcd_peer_port: int = 23800
    istiod_ports: dict[str, int] = field(default_factory=lambda: {
        "grpc": 15010, "secure_grpc": 15012, "https": 15017, "http": 15080, "monitoring": 15014})
    pkg_port: int = 8099
    # Ranges a mesh client on a VM connects to before its sidecar redirects the connection:
    # Service ClusterIPs and the addresses istiod allocates to ServiceEntry hosts. The VMs get
    # on-link routes for them into the bridge (no gateway: nothing is forwarded by the host).
    service_cidr: str = "10.96.0.0/16"
    auto_allocate_cidr: str = "240.240.0.0/16"
    # The VMs' nameserver: an address on the bridge that nothing answers. The agent's DNS
    # proxy captures the queries sent to it and answers the mesh's names.
    dns_ip: str = "10.213.0.53"
    versions: dict[str, str] = field(default_factory=read_versions)

    @classmethod
    def from_env(cls) -> "Config":
        state = Path(os.environ.get("MESHLAB_STATE", REPO / ".lab")).resolve()
        cache = Path(os.environ.get("MESHLAB_CACHE",
                                    Path.home() / ".cache" / "meshlab")).resolve()
        return cls(state=state, cache=cache)

    # -- derived paths ---------------------------------------------------
    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def ssh_key(self) -> Path:
        return self.state / "ssh" / "id_ed25519"

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.host_ip}:{self.apiserver_port}"

    @property
    def istiod_address(self) -> str:
        return f"{self.host_ip}:{self.istiod_ports['secure_grpc']}"

    @property
    def pkg_url(self) -> str:
        return f"http://{self.host_ip}:{self.pkg_port}/istio-sidecar.deb"

    def vm_name(self, n: int) -> str:
        return f"mlab-vm{n}"

    def vm_ip(self, n: int) -> str:
        """VM n: 10.213.0.(10+n); VMs 101+ live on the VM network (`lab vmnet up`, vmnet.py)."""
        if n > 100:
            return f"10.214.0.{self.vm_base + n - 100}"
        return f"10.213.0.{self.vm_base + n}"

    @property
    def istio_module_dir(self) -> Path:
        return gomodcache() / f"istio.io/istio@{self.versions['ISTIO_MODULE_VERSION']}"

    @property
    def bin_dir(self) -> Path:
        return self.cache / "bin"


def gomodcache() -> Path:
    out = subprocess.run(["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def say(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def need_tools(step: str, tools: list[str], hint: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise LabError(step, f"missing tool(s): {', '.join(missing)}", hint)


def run(step: str, argv: list[str], *, log: Path | None = None, env: dict | None = None,
        cwd: Path | None = None, hint: str = "", progress: str = "") -> None:
    """Run a command to completion; on failure raise LabError with the log's tail."""
    started = time.monotonic()
    if log is None:
        res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
        if res.returncode != 0:
            raise LabError(step, f"{' '.join(argv[:3])} … exited {res.returncode}: "
                                 f"{(res.stderr or res.stdout).strip()[-2000:]}", hint)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        last = started
        while proc.poll() is None:
            time.sleep(1)
            if progress and time.monotonic() - last >= 30:
                last = time.monotonic()
                say(f"{progress}: still running ({int(last - started)} s, log {log})")
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise LabError(step, f"{argv[0]} exited {proc.returncode}; log {log}:\n{tail}", hint)


def wait_for(step: str, what: str, check: Callable[[], T | None], timeout: float,
             interval: float = 0.5, on_timeout: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns something truthy; no fixed sleeps elsewhere."""
    deadline = time.monotonic() + timeout
    last_err = ""
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the condition is not there yet
            last_err = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            extra = on_timeout() if on_timeout else ""
            raise LabError(step, f"{what} not reached within {timeout:.0f} s"
                                 + (f" (last error: {last_err})" if last_err else "")
                                 + (f"\n{extra}" if extra else ""))
        time.sleep(interval)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def ensure_ports_free(step: str, ports: list[tuple[str, int]]) -> None:
    busy = [f"{h}:{p}" for h, p in ports if not port_free(h, p)]
    if busy:
        raise LabError(step, f"port(s) already in use: {', '.join(busy)}",
                       "stop whatever listens there (ss -ltnp) or run 'tests/lab/lab down', then retry")


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- processes started by the lab ---------------------------------------------

@dataclass
class Proc:
    """A long-running lab process, tracked by a PID file with its command line."""

    cfg: Config
    name: str

    @property
    def pidfile(self) -> Path:
        return self.cfg.pids / f"{self.name}.json"

    @property
    def logfile(self) -> Path:
        return self.cfg.logs / f"{self.name}.log"

    def record(self) -> dict | None:
        try:
            return json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The recorded PID if that process is still the one we started."""
        rec = self.record()
        if not rec:
            return None
        try:
            cmdline = Path(f"/proc/{rec['pid']}/cmdline").read_bytes().split(b"\0")[0].decode()
            stat = Path(f"/proc/{rec['pid']}/stat").read_text()
        except OSError:
            return None
        if cmdline != rec["exe"] or stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return int(rec["pid"])

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str], env: dict | None = None, cwd: Path | None = None,
              exe: str | None = None) -> int:
        """Start `argv`. `exe`: the program the PID runs in the end when argv[0] execs another
        one (`ip netns exec NS PROG`), so that pid() recognises it."""
        self.cfg.pids.mkdir(parents=True, exist_ok=True)
        self.cfg.logs.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        with self.logfile.open("ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=full_env, cwd=cwd, start_new_session=True)
        self.pidfile.write_text(json.dumps({"pid": proc.pid, "exe": exe or argv[0], "argv": argv}))
        return proc.pid

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"last lines of {self.logfile}:\n" + "\n".join(text[-lines:])

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop by the recorded PID (SIGTERM, then SIGKILL). True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie; reaps it if it is our child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def python() -> str:
    return sys.executable
