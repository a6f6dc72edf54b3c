# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the VM has of the sidecar's package (modules sidecar_package_info and
sidecar_package_file): the pure parts, and the reads through the module's run_command.
Runs on the VM: standard library only."""
from __future__ import annotations

import glob
import hashlib
import os
import re
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

DPKG_JOURNAL = "/var/lib/dpkg/updates"
DPKG_INFO = "/var/lib/dpkg/info"


def sha256_of(path: str) -> str:
    """The SHA-256 of a file, lower-case hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_deb_query(line: str) -> tuple:
    """(installed, version) from a ``dpkg-query --showformat='${db:Status-Abbrev}|${Version}'``
    line: installed only in state ``ii`` (a package unpacked, half-configured or removed with its
    configuration kept is not), its version empty otherwise."""
    status, _sep, version = (line or "").partition("|")
    installed = status.strip() == "ii"
    return installed, version.strip() if installed else ""


# The control fields that decide whether dpkg alone can install a .deb (dpkg-deb --field FILE ...).
DEB_RELATION_FIELDS = ("Depends", "Pre-Depends", "Conflicts", "Breaks")


def parse_deb_fields(text: str) -> dict:
    """The fields ``dpkg-deb --field FILE NAME...`` prints for two or more names: ``Name: value``
    lines, a line that starts with a blank continues the value before it; fields the file lacks
    are not printed."""
    fields, name = {}, None
    for line in (text or "").splitlines():
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, _sep, value = line.partition(":")
            name = name.strip()
            fields[name] = value.strip()
    return fields


def _deb_clauses(fields: dict) -> list:
    """The clauses of Depends and Pre-Depends, each a list of its alternatives as (name without an
    architecture qualifier, whether it has a version constraint)."""
    clauses = []
    for field in ("Depends", "Pre-Depends"):
        for clause in fields.get(field, "").split(","):
            alternatives = [(alternative.split("(")[0].strip().split(":")[0], "(" in alternative)
                            for alternative in clause.split("|") if alternative.strip()]
            if alternatives:
                clauses.append(alternatives)
    return clauses


def deb_depends_names(fields: dict) -> list:
    """The package names that Depends and Pre-Depends name (every alternative, without an
    architecture qualifier or a version), sorted, each once."""
    return sorted({name for clause in _deb_clauses(fields) for name, _versioned in clause if name})


def parse_deb_statuses(text: str) -> dict:
    """Package name -> ``${db:Status-Abbrev}`` from ``dpkg-query --show
    --showformat='${Package}|${db:Status-Abbrev}\\n'`` lines (a package dpkg does not know is
    not printed)."""
    statuses = {}
    for line in (text or "").splitlines():
        name, sep, abbrev = line.partition("|")
        if sep and name.strip():
            statuses[name.strip()] = abbrev
    return statuses


def deb_depends_installed(fields: dict, statuses: dict) -> bool:
    """Whether ``dpkg --install`` alone installs a .deb with these control fields: every clause of
    Depends and Pre-Depends has an alternative without a version that is installed (``statuses``:
    package name -> ``${db:Status-Abbrev}``; installed is ``ii`` or ``hi``, without an error
    flag), and it declares no Conflicts or Breaks. Otherwise apt-get decides (a versioned or
    virtual dependency, one it must fetch, a conflict it resolves): dpkg would leave the package
    unpacked and unconfigured."""
    if fields.get("Conflicts") or fields.get("Breaks"):
        return False
    return all(any(not versioned and statuses.get(name, "").ljust(3)[1:3] == "i " for name, versioned in clause)
               for clause in _deb_clauses(fields))


def journal_interrupted(path: str = DPKG_JOURNAL) -> bool:
    """Whether dpkg's journal directory holds a file: a dpkg run was interrupted (a missing or
    unreadable directory holds none)."""
    try:
        return any(os.path.isfile(os.path.join(path, name)) for name in os.listdir(path))
    except OSError:
        return False


# --- What the package database records of an installed file ---------------------------------------

# rpm's FILEDIGESTALGO (the OpenPGP hash numbers) -> hashlib's name.
RPM_DIGEST_ALGORITHMS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
RPM_DIGEST_QUERY = "[%{FILENAMES}\t%{=FILEDIGESTALGO}\t%{FILEDIGESTS}\n]"


def parse_deb_conffiles(text: str) -> Dict[str, str]:
    """Path -> MD5 from ``dpkg-query --showformat='${Conffiles}'``: one `` /path md5 [obsolete]`` line
    per configuration file (the MD5 of the file the package shipped)."""
    digests = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("/"):
            digests[parts[0]] = parts[1].lower()
    return digests


def parse_deb_md5sums(text: str) -> Dict[str, str]:
    """Path -> MD5 from a package's ``/var/lib/dpkg/info/PACKAGE.md5sums`` (``md5  path`` without the
    leading slash; dpkg lists its files that are not configuration files there)."""
    digests = {}
    for line in (text or "").splitlines():
        digest, _sep, path = line.strip().partition(" ")
        if path.strip():
            digests["/" + path.strip().lstrip("/")] = digest.lower()
    return digests


def parse_rpm_digests(text: str) -> Dict[str, Tuple[str, str]]:
    """Path -> (hashlib name, digest) from ``rpm --query --queryformat`` with the file names, the
    package's digest algorithm and the file digests, tab-separated, a line per file (RPM_DIGEST_QUERY);
    directories and links have no digest."""
    digests = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip():
            continue
        try:
            # a package built without the tag: rpm's default, MD5
            algorithm = RPM_DIGEST_ALGORITHMS.get(1 if parts[1].strip() == "(none)" else int(parts[1]), "")
        except ValueError:
            continue
        if algorithm:
            digests[parts[0]] = (algorithm, parts[2].strip().lower())
    return digests


def package_digest(module, package: str, path: str) -> Optional[Tuple[str, str]]:
    """(hashlib name, digest) of the file ``path`` as the installed ``package`` shipped it, from dpkg's
    or rpm's database (``module``: its run_command and get_bin_path); None when neither records one."""
    if module.get_bin_path("dpkg-query"):
        digest = deb_conffiles(module, package).get(path)
        if digest is None:
            # PACKAGE:ARCH.md5sums for a package of Multi-Arch: same
            names = ["%s/%s.md5sums" % (DPKG_INFO, package)] + sorted(glob.glob("%s/%s:*.md5sums" % (DPKG_INFO, package)))
            for name in names:
                digest = parse_deb_md5sums(_read_or_empty(name)).get(path)
                if digest:
                    break
        if digest:
            return "md5", digest
    if module.get_bin_path("rpm"):
        rc, out, _err = module.run_command(["rpm", "--query", "--queryformat",
                                            RPM_DIGEST_QUERY, package])
        if rc == 0:
            return parse_rpm_digests(out).get(path)
    return None


def deb_conffiles(module, package: str) -> Dict[str, str]:
    """Path -> MD5 of the config files of the installed ``package``, from dpkg's database (``module``:
    its run_command); empty when dpkg does not know the package."""
    rc, out, _err = module.run_command(["dpkg-query", "--show", "--showformat=${Conffiles}\n", package])
    return parse_deb_conffiles(out) if rc == 0 else {}


def _read_or_empty(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


# --- The facts the role vm_sidecar needs, without ansible.builtin.setup ----------------------------

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
SYSTEMD_RUNTIME = "/run/systemd/system"

# os-release ID (or an ID_LIKE word) -> the os_family ansible.builtin.setup reports.
OS_FAMILIES = {
    "debian": "Debian", "ubuntu": "Debian", "raspbian": "Debian", "linuxmint": "Debian", "devuan": "Debian",
    "kali": "Debian", "pop": "Debian", "rhel": "RedHat", "centos": "RedHat", "fedora": "RedHat",
    "rocky": "RedHat", "almalinux": "RedHat", "ol": "RedHat", "amzn": "RedHat", "virtuozzo": "RedHat",
    "sles": "Suse", "opensuse": "Suse", "opensuse-leap": "Suse", "opensuse-tumbleweed": "Suse", "suse": "Suse",
    "arch": "Archlinux", "alpine": "Alpine", "gentoo": "Gentoo",
}
# os-release ID -> the distribution ansible.builtin.setup reports, where it is not NAME's first word.
DISTRIBUTIONS = {
    "rhel": "RedHat", "centos": "CentOS", "ol": "OracleLinux", "amzn": "Amazon", "almalinux": "AlmaLinux",
    "sles": "SLES", "opensuse-leap": "openSUSE Leap", "opensuse-tumbleweed": "openSUSE Tumbleweed",
    "arch": "Archlinux",
}


def parse_os_release(text: str) -> dict:
    """The KEY=value pairs of an os-release file (quotes removed; comments and other lines skipped)."""
    values = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        values[key.strip()] = value
    return values


def os_facts(os_release: dict, machine: str, systemd_booted: bool, init: str = "") -> dict:
    """os_family, distribution, architecture and service_mgr as ansible.builtin.setup names them,
    from the os-release pairs, ``os.uname().machine``, whether systemd booted the host
    (sd_booted(): /run/systemd/system exists) and else the name of process 1 (``init``). A family
    neither the ID nor an ID_LIKE word names is the distribution's own name, as setup reports it."""
    ident = os_release.get("ID", "").strip().lower()
    like = os_release.get("ID_LIKE", "").lower().split()
    name = os_release.get("NAME", "").strip()
    distribution = DISTRIBUTIONS.get(ident) or (name.split()[0] if name else ident.capitalize()) or "Unknown"
    family = next((OS_FAMILIES[word] for word in [ident] + like if word in OS_FAMILIES), distribution)
    return {"os_family": family, "distribution": distribution, "architecture": machine,
            "service_mgr": "systemd" if systemd_booted else (init.strip() or "unknown")}


def choose_package(fmt: str, formats: dict, path: str, paths: dict, os_family: str) -> tuple:
    """(format, path) of the package file to read: the format given, else the one ``formats`` maps
    the OS family to, else ``deb`` when no map is given; the path given, else the one ``paths``
    holds for that format. ("", "") when there is none: the caller reads no package then (its
    preflight says why)."""
    if not fmt:
        fmt = (formats or {}).get(os_family, "") if formats is not None else "deb"
    if path:
        return (fmt, path) if fmt else ("", "")
    chosen = (paths or {}).get(fmt, "") if fmt else ""
    return (fmt, chosen) if chosen else ("", "")


# --- The package on the VM, read through the module's run_command ---------------------------------

NO_PACKAGE = {"file": {"exists": False, "sha256": "", "version": "", "depends_installed": False},
              "installed": {"present": False, "version": "", "query": ""}, "dpkg_interrupted": False}


def unit_state(module, verb, service):
    """What ``systemctl <verb> <service>`` prints; ``unknown`` without systemctl or output."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return "unknown"
    _rc, out, _err = module.run_command([systemctl, verb, service])
    return out.strip() or "unknown"


# systemd's ID of one run of a unit: 128 bits as 32 lowercase hex digits (sd_id128_to_string).
_INVOCATION_ID = re.compile(r"[0-9a-f]{32}")


def parse_invocation_id(text: str) -> str:
    """The InvocationID of ``systemctl show --property=InvocationID --value``; empty when it printed
    none (a unit that never ran) or anything else."""
    value = (text or "").strip()
    return value if _INVOCATION_ID.fullmatch(value) else ""


def parse_unit_run(text: str) -> tuple:
    """The InvocationID (parse_invocation_id) and the main process's PID (0 when none) of
    ``systemctl show --property=InvocationID,MainPID``."""
    props = dict(line.split("=", 1) for line in (text or "").splitlines() if "=" in line)
    pid = props.get("MainPID", "").strip()
    return parse_invocation_id(props.get("InvocationID", "")), int(pid) if pid.isdigit() else 0


def unit_run(module, service):
    """The ID systemd gave the current (or last) run of ``service`` (a new one on every start, so a
    caller that lost the answer of a restart can tell whether it ran; empty without one), and the PID
    of its main process (0 when it has none)."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return "", 0
    _rc, out, _err = module.run_command([systemctl, "show", "--property=InvocationID,MainPID", service])
    return parse_unit_run(out)


def process_started(stat_text: str, proc_stat_text: str, ticks: int) -> Optional[float]:
    """When a process started, in seconds since the epoch: its ``/proc/PID/stat`` (field 22, clock ticks
    since boot) from the boot time in ``/proc/stat`` (``btime``, whole seconds), ``ticks`` a second.
    None when either cannot be read."""
    try:
        starttime = int(stat_text.rsplit(")", 1)[1].split()[19])    # the name in (...) may hold spaces
        btime = next(int(line.split()[1]) for line in proc_stat_text.splitlines() if line.startswith("btime "))
        return btime + starttime / float(ticks)
    except (AttributeError, IndexError, StopIteration, ValueError, ZeroDivisionError):
        return None


# How much later than the start of the sidecar's process a file must have changed to count as
# changed after it: the start is known to a second (the boot time's precision), and a restart
# follows the writes of its run by less than that.
CHANGED_AFTER_START_MARGIN = 2.0


def changed_after_start(changes: Dict[str, float], started: Optional[float],
                        margin: float = CHANGED_AFTER_START_MARGIN) -> List[str]:
    """The paths of ``changes`` (path -> the file's ctime) that changed more than ``margin`` seconds
    after ``started`` (process_started), sorted; none when the start is unknown."""
    if started is None:
        return []
    return sorted(path for path, ctime in changes.items() if ctime > started + margin)


def read_deb_file(module, path):
    """The .deb's version, and whether every package it depends on is installed (dpkg alone installs it)."""
    rc, out, _err = module.run_command(["dpkg-deb", "--field", path, "Version"] + list(DEB_RELATION_FIELDS))
    fields = parse_deb_fields(out) if rc == 0 else {}
    statuses = {}
    names = deb_depends_names(fields)
    if names:
        # rc 1: some of them dpkg does not know; the others are printed all the same
        _rc, out, _err = module.run_command(["dpkg-query", "--show", "--showformat=${Package}|${db:Status-Abbrev}\\n"]
                                            + names)
        statuses = parse_deb_statuses(out)
    return {"version": fields.get("Version", ""),
            "depends_installed": rc == 0 and deb_depends_installed(fields, statuses)}


# What dpkg and rpm leave beside a config file that was edited on the VM when a new package changes it
# too: dpkg keeps the VM's file and puts the package's beside it as .dpkg-dist (--force-confold, the
# role's answer; .dpkg-old is the VM's file when the package's was taken instead); rpm leaves the
# package's as .rpmnew (a noreplace file) or keeps the VM's as .rpmsave.
CONFIG_LEFTOVER_SUFFIXES = {"deb": (".dpkg-dist", ".dpkg-old"), "rpm": (".rpmnew", ".rpmsave")}


def config_leftovers(config_files: Iterable[str], fmt: str, exists: Callable[[str], bool] = os.path.lexists) -> List[str]:
    """The files beside the package's config files ``config_files`` that a package manager of format
    ``fmt`` (deb, rpm) left there (CONFIG_LEFTOVER_SUFFIXES), sorted."""
    return sorted(path + suffix for path in set(config_files) for suffix in CONFIG_LEFTOVER_SUFFIXES[fmt]
                  if exists(path + suffix))


def read_config_files(module, name: str, deb: bool) -> List[str]:
    """The config files of the installed package ``name``, from dpkg's or rpm's database (``module``: its
    run_command); none when the database cannot say."""
    if deb:
        return sorted(deb_conffiles(module, name))
    rc, out, _err = module.run_command(["rpm", "--query", "--configfiles", name])
    return sorted(line.strip() for line in out.splitlines() if line.strip().startswith("/")) if rc == 0 else []


def read_package(module, path, deb, name, sha256=None, leftovers=False):
    """The package file ``path`` and the installed package ``name`` (deb: also dpkg's journal), as
    sidecar_package_info's RETURN says (``module``: its run_command). ``sha256``: the file's, when
    the caller has just verified it (the file is not read again for it). ``leftovers``: also the files
    the package manager left beside the installed package's config files (config_leftovers)."""
    file_info = {"exists": os.path.isfile(path), "sha256": "", "version": "", "depends_installed": False}
    if file_info["exists"]:
        file_info["sha256"] = sha256 or sha256_of(path)
        if deb:
            file_info.update(read_deb_file(module, path))
        else:
            rc, out, _err = module.run_command(["rpm", "--query", "--package", "--queryformat", "%{VERSION}-%{RELEASE}",
                                                path])
            file_info["version"] = out.strip() if rc == 0 else ""

    if deb:
        rc, out, err = module.run_command(["dpkg-query", "--show", "--showformat=${db:Status-Abbrev}|${Version}", name])
        if rc not in (0, 1):
            raise MeshError("dpkg-query failed (rc %d): %s" % (rc, err.strip()))
        query = out.strip() if rc == 0 else ""
        present, version = parse_deb_query(query)
    else:
        rc, out, err = module.run_command(["rpm", "--query", "--queryformat", "%{VERSION}-%{RELEASE}", name])
        query, present = "", rc == 0
        version = out.strip() if present else ""
    installed = {"present": present, "version": version, "query": query}
    if leftovers:
        installed["config_leftovers"] = (config_leftovers(read_config_files(module, name, deb), "deb" if deb else "rpm")
                                         if present else [])
    return {"file": file_info, "installed": installed, "dpkg_interrupted": deb and journal_interrupted()}


# --- The download: attempts and retries -----------------------------------------------------------

class DownloadFailed(Exception):
    """One failed attempt of a download: its message, the HTTP status (-1 without an answer) and
    whether another attempt may help (not after a checksum mismatch: the same file would come back)."""

    def __init__(self, message: str, status: int = -1, retry: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry = retry


def with_retries(attempt: Callable[[], Any], retries: int, delay: float,
                 sleep: Callable[[float], None] = time.sleep) -> Tuple[Any, int]:
    """(what ``attempt()`` returned, the number of attempts): ``attempt`` is called until it
    returns, at most ``1 + retries`` times, ``delay`` seconds apart. A DownloadFailed that may not
    be retried ends it early. The last failure is raised as MeshError with ``status_code`` and
    ``attempts`` in its details."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return attempt(), attempts
        except DownloadFailed as e:
            if not e.retry or attempts > retries:
                raise MeshError(e.message, {"status_code": e.status, "attempts": attempts}) from None
        sleep(delay)
