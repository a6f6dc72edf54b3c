# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The run lock of the playbooks: one coordination.k8s.io/v1 Lease per workload namespace.

A run holds the Lease of every namespace its VMs are in while it changes anything; a second
run on the same namespaces waits for it, or fails naming the holder. Pure functions build a
Lease, say when one expires, and decide what to do with the one found; ``acquire`` and
``release`` make the calls through a ``MeshClient`` (``lease``, ``write_lease``, ``delete_lease``)
for ``meshops.istio_vm.mesh_lock``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

LEASE_NAME = "meshops-istio-vm"
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"

# What to do with the Lease found (decide()).
CREATE = "create"   # none there: create it (409 = another run was faster)
RENEW = "renew"     # ours: move its renewTime
TAKE = "take"       # released or expired: take it over (update on its resourceVersion)
WAIT = "wait"       # another run holds it


def utc(text: Optional[str]) -> Optional[datetime.datetime]:
    """A Kubernetes MicroTime or Time (``2026-01-02T03:04:05.123456Z``, ``...05Z``), or None."""
    if not text:
        return None
    for fmt in (MICRO_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def micro_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(MICRO_TIME)


def holder_identity(host: str, pid: int, started: str, run: str, job: str = "", space: str = "") -> str:
    """The holderIdentity of a run: who to ask before breaking its lock (the role builds the same).

    ``host`` and ``pid``: the controller and its ansible-playbook process; ``space``: where that PID
    means that process (process_space(), empty when unknown); ``started``: when the run began;
    ``run``: a token unique to the run; ``job``: the AWX job ID when there is one."""
    where = "on %s pid %d" % (host, pid) + (" in %s" % space if space else "")
    parts = ["awx job %s" % job if job else "ansible-playbook", where, "started %s" % started, "run %s" % run]
    return " ".join(parts)


SPACE_CHARS = 16


def process_space(boot_id: str, pid_namespace: str) -> str:
    """A short name for the PID space of a process: the kernel's boot (``boot_id``) and its PID
    namespace (``pid:[4026531836]``). Two processes with the same PID are the same process only
    in the same space: host names repeat (``localhost.localdomain``, containers given one name),
    and an initial PID namespace has the same number on every machine. Empty when either is."""
    if not boot_id.strip() or not pid_namespace.strip():
        return ""
    text = "%s %s" % (boot_id.strip(), pid_namespace.strip())
    return hashlib.sha256(text.encode()).hexdigest()[:SPACE_CHARS]


def this_process_space() -> str:
    """process_space() of this process, from /proc; empty where /proc does not tell (not Linux)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot_id = handle.read()
        return process_space(boot_id, os.readlink("/proc/self/ns/pid"))
    except OSError:
        return ""


_PROCESS = re.compile(r" on (\S+) pid (\d+) in ([0-9a-f]{%d}) " % SPACE_CHARS)


def run_gone(holder_name: str, host: str, space: str, alive: Callable[[int], bool]) -> bool:
    """Whether the run ``holder_name`` has ended for sure: it ran on this controller ``host``, in
    this PID ``space`` (process_space()), and its ansible-playbook process is not ``alive`` any more.
    A run on another controller, in another container or boot, or one named without its space,
    cannot be seen from here: its lock expires instead."""
    match = _PROCESS.search(holder_name + " ")
    return (bool(match) and bool(space) and match.group(1) == host and match.group(3) == space
            and not alive(int(match.group(2))))


def lease(namespace: str, holder: str, duration: int, now: datetime.datetime,
          name: str = LEASE_NAME) -> Dict[str, Any]:
    """A new Lease held by ``holder`` for ``duration`` seconds from ``now``."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"}},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(duration),
                     "acquireTime": micro_time(now), "renewTime": micro_time(now), "leaseTransitions": 0}}


def holder(found: Optional[Mapping[str, Any]]) -> str:
    return ((found or {}).get("spec") or {}).get("holderIdentity") or ""


def expires(found: Mapping[str, Any]) -> Optional[datetime.datetime]:
    """When the Lease runs out (renewTime, else acquireTime, plus leaseDurationSeconds); None when
    it has no time or no duration (then it never expires on its own)."""
    spec = found.get("spec") or {}
    since = utc(spec.get("renewTime")) or utc(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if since is None or not duration:
        return None
    return since + datetime.timedelta(seconds=int(duration))


def stale(found: Mapping[str, Any], now: datetime.datetime, gone: Optional[Callable[[str], bool]] = None) -> bool:
    """Whether no run holds ``found`` any more: no holder, its time ran out, or its run is ``gone``."""
    until = expires(found)
    return not holder(found) or (until is not None and until <= now) or bool(gone and gone(holder(found)))


def decide(found: Optional[Mapping[str, Any]], me: str, now: datetime.datetime,
           gone: Optional[Callable[[str], bool]] = None) -> str:
    """CREATE, RENEW, TAKE or WAIT for the Lease ``found`` (None: there is none) and holder ``me``;
    ``gone`` tells whether the run of a holder has ended (run_gone)."""
    if found is None:
        return CREATE
    if holder(found) == me:
        return RENEW
    return TAKE if stale(found, now, gone) else WAIT


def renewed(found: Mapping[str, Any], me: str, duration: int, now: datetime.datetime) -> Dict[str, Any]:
    """``found`` held by ``me`` from ``now`` for ``duration`` seconds, keeping its resourceVersion
    (so that the update fails when another run changed it in between)."""
    spec = dict(found.get("spec") or {})
    if spec.get("holderIdentity") != me:
        spec["acquireTime"] = micro_time(now)
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    spec.update(holderIdentity=me, leaseDurationSeconds=int(duration), renewTime=micro_time(now))
    meta = found["metadata"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {key: meta[key] for key in ("name", "namespace", "resourceVersion", "labels") if key in meta},
            "spec": spec}


def held_message(namespace: str, found: Mapping[str, Any], waited: float, now: datetime.datetime) -> str:
    """Why a run stops: who holds the lock, until when, and how to break it when that run is gone."""
    name = found["metadata"]["name"]
    until = expires(found)
    left = "" if until is None else ", renewed until %s (%ds from now)" % (
        micro_time(until), max(0, int((until - now).total_seconds())))
    return ("Another run holds the lock of namespace %s (Lease %s/%s): %s%s. Waited %ds for it. "
            "Run again when it is done; if that run is gone, its lock expires by itself, or break it now with: "
            "kubectl -n %s delete lease %s" % (namespace, namespace, name, holder(found) or "(no holder)", left,
                                               int(waited), namespace, name))


def lost_message(lost: Mapping[str, str], name: str, duration: int, done: bool = False) -> str:
    """Why a run that held the locks of namespaces fails: other runs hold their Leases now (``lost``:
    holder by namespace). ``done``: found when giving them back, after the run's last play."""
    what = ("That run may have changed the namespace's workloads while this run did. Run this one again once "
            "the other run is done, so that the workloads are as its inventory says."
            if done else
            "That run may have changed the namespace's workloads since this run took the lock, so this run "
            "stops before changing more. Run it again once the other run is done.")
    first = sorted(lost)[0]
    also = "".join(" Lost as well: the lock of namespace %s, held by %s." % (ns, lost[ns]) for ns in sorted(lost)[1:])
    return ("This run lost the lock of namespace %s: its Lease %s/%s is held by another run now: %s. %s%s "
            "If a play of this run took longer than %d seconds (mesh_workload_lock_duration; the playbooks renew "
            "the Lease between plays), the Lease ran out in it: give it more. Runs that share one holder (AWX "
            "slices) give the Lease back when the first of them ends, and another run may take it then."
            % (first, first, name, lost[first], what, also, int(duration)))


# -- the calls, through MeshClient (lease, write_lease, delete_lease) ---------------------------

def acquire(client: Any, namespaces: Sequence[str], me: str, duration: int, timeout: float, check: bool,
            name: str = LEASE_NAME, create_namespaces: bool = False,
            gone: Optional[Callable[[str], bool]] = None, held: Sequence[str] = (),
            interval: float = 1.0, now: Optional[Callable[[], datetime.datetime]] = None,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Hold the Lease of each namespace, in sorted order (two runs never wait for each other in a
    circle), taking over those whose run is ``gone`` or expired, waiting up to ``timeout`` seconds in all for Leases another run holds; on timeout
    raise MeshError naming the holder. On any MeshError (the timeout, a refused or failed call)
    give back the Leases this call created or took over before raising it. A namespace that does not
    exist yet is created first with ``create_namespaces`` (the run would create it anyway), else
    ``deferred`` (the next acquire, once it exists, takes it). ``check``: only read, and report
    what would happen. ``held``: the namespaces whose Lease this run took before (an earlier call's
    ``acquired``); one that another run holds now (taken over once it ran out) raises MeshError at
    once (lost_message): the run lost its lock, and waiting for it would hide that the other run may
    have changed things meanwhile. One that is gone, or has no holder, is taken again as usual: the
    runs that share a holder (AWX slices) give it back when the first of them ends. ``now``: the clock of the Lease's times, by default the API server's
    (``client.server_now``, from the Date of its answers), so that runs on controllers whose clocks
    differ agree on when a Lease runs out."""
    now = now or client.server_now
    started = clock()
    actions: Dict[str, str] = {}
    holders: Dict[str, str] = {}
    deferred: List[str] = []
    created: List[str] = []
    tried: List[str] = []       # namespaces this call tried to create (created, or there already)
    try:
        for namespace in sorted(set(namespaces)):
            while True:
                found = client.lease(namespace, name)
                if namespace in held and holder(found) not in ("", me):
                    raise MeshError(lost_message({namespace: holder(found)}, name, duration),
                                    {"namespace": namespace, "holder": holder(found), "lost": True})
                action = decide(found, me, now(), gone)
                if action == WAIT:
                    holders[namespace] = holder(found)
                if check:
                    actions[namespace] = action
                    break
                if action == WAIT:
                    waited = clock() - started
                    if waited >= timeout:
                        raise MeshError(held_message(namespace, found, waited, now()),
                                        {"namespace": namespace, "holder": holder(found), "waited": round(waited, 1)})
                    sleep(interval)
                    continue
                if action == CREATE:
                    body = lease(namespace, me, duration, now(), name)
                else:
                    body = renewed(found, me, duration, now())
                written = client.write_lease(body, create=action == CREATE)
                if written is False and create_namespaces and namespace not in tried:
                    tried.append(namespace)
                    if client.create_namespace(namespace):
                        created.append(namespace)
                    continue
                if written is False:
                    deferred.append(namespace)
                    break
                if written is None:     # another run wrote in between: read again
                    continue
                actions[namespace] = action
                break
    except MeshError as exc:
        if not check:   # the Leases this call created or took over; those it renewed were held before
            _give_back_after(exc, client, [ns for ns, act in actions.items() if act in (CREATE, TAKE)], me, name)
        raise
    return {"changed": any(act != WAIT for act in actions.values()) if check else bool(actions),
            "acquired": sorted(ns for ns, act in actions.items() if act != WAIT), "actions": actions,
            "holders": holders, "deferred": deferred, "created_namespaces": created, "waited": round(clock() - started, 1), "holder": me}


def _give_back_after(error: MeshError, client: Any, namespaces: Sequence[str], me: str, name: str) -> None:
    """Give back ``namespaces`` because acquiring failed with ``error``; when that fails too, say so
    in ``error`` (which the caller raises) rather than hide it."""
    try:
        _give_back(client, namespaces, me, name)
    except MeshError as failed:
        error.message += " The locks this run took (namespaces %s) could not be given back: %s" % (
            ", ".join(namespaces), failed.message)
        error.details["kept"] = list(namespaces)


def _give_back(client: Any, namespaces: Sequence[str], me: str, name: str) -> List[str]:
    released = []
    for namespace in namespaces:
        found = client.lease(namespace, name)
        if found is not None and holder(found) == me and client.delete_lease(
                namespace, name, found["metadata"]["resourceVersion"]):
            released.append(namespace)
    return released


def release(client: Any, namespaces: Sequence[str], me: str, check: bool, name: str = LEASE_NAME,
            held: Sequence[str] = (), duration: int = 900) -> Dict[str, Any]:
    """Delete the Lease of each namespace that ``me`` holds (a precondition on its resourceVersion,
    so a Lease another run took over meanwhile stays); the others are left alone and reported.
    ``held``: the namespaces whose Lease this run took before; once the others are given back, one
    that another run holds now raises MeshError (lost_message; ``duration``: the run's lease duration):
    the run lost its lock on the way."""
    ours, others = [], {}
    for namespace in sorted(set(namespaces)):
        found = client.lease(namespace, name)
        if found is None:
            continue
        if holder(found) == me:
            ours.append(namespace)
        else:
            others[namespace] = holder(found)
    released = ours if check else _give_back(client, ours, me, name)
    lost = {ns: other for ns, other in others.items() if ns in held and other}
    if lost:
        raise MeshError(lost_message(lost, name, duration, done=True),
                        {"lost": lost, "holders": others, "released": released})
    return {"changed": bool(released), "released": released, "holders": others, "holder": me}
