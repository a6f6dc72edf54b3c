# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run lock: a Lease per workload namespace, who may take it, and the calls that take it.

The decisions are tables; acquire and release run against one small in-memory Lease store that
behaves like the API server where it matters (create fails on an existing object, update and
delete fail on a stale resourceVersion, a missing namespace refuses the create)."""
from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils import _lock
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
ME, OTHER = "awx job 7 on ctl started x run 1", "ansible-playbook on laptop started y run 2"


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def held(by: str, renewed: float = 0, duration: int = 60, version: str = "1") -> dict:
    obj = _lock.lease("ns", by, duration, at(renewed))
    obj["metadata"]["resourceVersion"] = version
    return obj


def test_lease_and_its_times_round_trip():
    obj = _lock.lease("ns", ME, 60, T0)
    assert obj["metadata"] == {"name": "meshops-istio-vm", "namespace": "ns",
                               "labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"}}
    assert obj["spec"]["renewTime"] == "2026-01-02T03:04:05.123456Z"
    assert _lock.expires(obj) == at(60)
    assert _lock.utc("2026-01-02T03:04:05Z") == T0.replace(microsecond=0)
    assert _lock.utc("yesterday") is None and _lock.utc("") is None


@pytest.mark.parametrize("found,now,expected", [
    (None, 0, _lock.CREATE),
    (held(ME), 10, _lock.RENEW),
    (held(ME), 600, _lock.RENEW),               # ours, even expired: renew (no transition)
    (held(OTHER), 10, _lock.WAIT),
    (held(OTHER), 59.9, _lock.WAIT),
    (held(OTHER), 60, _lock.TAKE),              # renewTime + leaseDurationSeconds reached
    (held(""), 0, _lock.TAKE),                  # given back without being deleted
    ({"metadata": {"name": "meshops-istio-vm"}, "spec": {"holderIdentity": OTHER}}, 10 ** 6, _lock.WAIT),
    ({"metadata": {"name": "meshops-istio-vm"}, "spec": {"holderIdentity": OTHER, "leaseDurationSeconds": 5,
                                                         "acquireTime": "2026-01-02T03:04:05.123456Z"}},
     5, _lock.TAKE),                            # no renewTime: acquireTime counts
])
def test_decide(found, now, expected):
    assert _lock.decide(found, ME, at(now)) == expected


SPACE = _lock.process_space("0f5c5a1e-1111-4222-8333-944455556666", "pid:[4026531836]")
ELSEWHERE = _lock.process_space("7d7d7d7d-1111-4222-8333-944455556666", "pid:[4026531836]")


@pytest.mark.parametrize("holder,host,space,running,expected", [
    ("ansible-playbook on ctl pid 4242 in %s started s run 1" % SPACE, "ctl", SPACE, False, True),
    ("ansible-playbook on ctl pid 4242 in %s started s run 1" % SPACE, "ctl", SPACE, True, False),
    ("ansible-playbook on ctl pid 4242 in %s started s run 1" % SPACE, "other", SPACE, False, False),
    # the same host name on another machine, in another container or boot: not seen from here
    ("ansible-playbook on ctl pid 4242 in %s started s run 1" % ELSEWHERE, "ctl", SPACE, False, False),
    ("ansible-playbook on ctl pid 4242 in %s started s run 1" % SPACE, "ctl", "", False, False),
    ("ansible-playbook on ctl pid 4242 started s run 1", "ctl", SPACE, False, False),    # named without
    ("awx job 7 on pod-x pid 12 in %s started s run 1" % SPACE, "pod-x", SPACE, False, True),
    ("someone by hand", "ctl", SPACE, False, False),
])
def test_run_gone_only_for_a_process_of_this_controller_that_ended(holder, host, space, running, expected):
    assert _lock.run_gone(holder, host, space, lambda pid: running) is expected

    def gone(name):
        return _lock.run_gone(name, host, space, lambda pid: running)

    assert _lock.decide(held(holder), ME, at(1), gone) == (_lock.TAKE if expected else _lock.WAIT)


def test_renewed_keeps_the_version_and_counts_transitions():
    mine = _lock.renewed(held(ME, version="5"), ME, 90, at(30))
    assert mine["metadata"]["resourceVersion"] == "5"
    assert mine["spec"]["acquireTime"] == _lock.micro_time(T0) and mine["spec"]["leaseTransitions"] == 0
    assert mine["spec"]["renewTime"] == _lock.micro_time(at(30)) and mine["spec"]["leaseDurationSeconds"] == 90
    taken = _lock.renewed(held(OTHER, version="6"), ME, 60, at(120))
    assert taken["spec"]["holderIdentity"] == ME and taken["spec"]["leaseTransitions"] == 1
    assert taken["spec"]["acquireTime"] == _lock.micro_time(at(120))


def test_process_space_names_a_boot_and_a_pid_namespace():
    assert len(SPACE) == 16 and int(SPACE, 16) >= 0
    assert SPACE != ELSEWHERE
    assert SPACE != _lock.process_space("0f5c5a1e-1111-4222-8333-944455556666", "pid:[4026532201]")
    assert SPACE == _lock.process_space("0f5c5a1e-1111-4222-8333-944455556666\n", "pid:[4026531836]")
    assert _lock.process_space("", "pid:[4026531836]") == "" and _lock.process_space("b", " ") == ""
    assert _lock.this_process_space() == _lock.this_process_space() != ""   # Linux: /proc tells


def test_holder_identity_and_the_held_message():
    assert _lock.holder_identity("ctl", 4242, "2026-01-02T03:04:05Z", "42", job="7", space=SPACE) == \
        "awx job 7 on ctl pid 4242 in %s started 2026-01-02T03:04:05Z run 42" % SPACE
    assert _lock.holder_identity("ctl", 4242, "s", "42") == "ansible-playbook on ctl pid 4242 started s run 42"
    assert _lock.holder_identity("ctl", 1, "s", "42").startswith("ansible-playbook on ctl pid 1 ")
    text = _lock.held_message("ns", held(OTHER), 30.4, at(20))
    assert text.startswith("Another run holds the lock of namespace ns (Lease ns/meshops-istio-vm): " + OTHER)
    assert "renewed until 2026-01-02T03:05:05.123456Z (40s from now). Waited 30s" in text
    assert text.endswith("kubectl -n ns delete lease meshops-istio-vm")


class Store:
    """Leases by namespace, with resourceVersions, as the API server keeps them."""

    def __init__(self, leases=None, namespaces=("a", "b", "ns")):
        self.leases = {lease["metadata"]["namespace"]: lease for lease in (leases or [])}
        self.namespaces = set(namespaces)
        self.version = 100
        self.calls = []
        self.before_write = None    # another run's write, between our read and our write
        self.refuse = {}            # (call, namespace) -> the MeshError the API call raises

    def _call(self, call, namespace):
        self.calls.append((call, namespace))
        if (call, namespace) in self.refuse:
            raise self.refuse[(call, namespace)]

    def lease(self, namespace, name):
        self._call("read", namespace)
        return copy.deepcopy(self.leases.get(namespace))

    def write_lease(self, body, create):
        namespace = body["metadata"]["namespace"]
        self._call("create" if create else "update", namespace)
        if self.before_write:
            self.before_write, hook = None, self.before_write
            hook(self)
        if namespace not in self.namespaces:
            return False
        current = self.leases.get(namespace)
        if create and current is not None:
            return None
        if not create and (current is None or current["metadata"]["resourceVersion"]
                           != body["metadata"]["resourceVersion"]):
            return None
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.leases[namespace] = stored
        return stored

    def delete_lease(self, namespace, name, resource_version):
        self._call("delete", namespace)
        current = self.leases.get(namespace)
        if current is None or current["metadata"]["resourceVersion"] != resource_version:
            return False
        del self.leases[namespace]
        return True


class Clock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return at(self.t)

    def monotonic(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def acquire(store, clock, namespaces=("b", "a"), timeout=10, check=False, me=ME):
    return _lock.acquire(store, list(namespaces), me, 60, timeout, check, now=clock.now, clock=clock.monotonic,
                         sleep=clock.sleep)


def test_acquire_creates_in_sorted_order_then_renews_and_release_deletes():
    store, clock = Store(), Clock()
    first = acquire(store, clock)
    assert first["changed"] and first["acquired"] == ["a", "b"] and first["actions"] == {"a": "create", "b": "create"}
    assert [c for c in store.calls if c[0] == "create"] == [("create", "a"), ("create", "b")]
    clock.sleep(30)
    again = acquire(store, clock)
    assert again["actions"] == {"a": "renew", "b": "renew"}
    assert store.leases["a"]["spec"]["renewTime"] == _lock.micro_time(at(30))
    done = _lock.release(store, ["a", "b"], ME, False)
    assert done == {"changed": True, "released": ["a", "b"], "holders": {}, "holder": ME}
    assert store.leases == {}
    assert _lock.release(store, ["a", "b"], ME, False)["changed"] is False


def test_a_held_lease_is_waited_for_then_taken_when_it_expires():
    store, clock = Store([held(OTHER, renewed=0, duration=20)]), Clock()
    clock.t = 5
    res = acquire(store, clock, namespaces=["ns"], timeout=60)
    assert res["actions"] == {"ns": "take"} and res["waited"] == 15 and res["holders"] == {"ns": OTHER}
    assert store.leases["ns"]["spec"]["holderIdentity"] == ME
    assert store.leases["ns"]["spec"]["leaseTransitions"] == 1


def test_a_held_lease_past_the_timeout_fails_naming_the_holder_and_gives_back_what_it_took():
    store, clock = Store([held(OTHER, duration=600)]), Clock()
    store.leases["ns"]["metadata"]["namespace"] = "b"
    store.leases = {"b": store.leases["ns"]}
    with pytest.raises(MeshError) as err:
        acquire(store, clock, namespaces=["a", "b"], timeout=10)
    assert "holds the lock of namespace b" in err.value.message and OTHER in err.value.message
    assert err.value.details == {"namespace": "b", "holder": OTHER, "waited": 10}
    assert "a" not in store.leases and store.leases["b"]["spec"]["holderIdentity"] == OTHER


FORBIDDEN = MeshError("Failed to read Lease b/meshops-istio-vm: forbidden", {"status": 403})


@pytest.mark.parametrize("call", ["read", "create"])
def test_a_failed_call_gives_back_the_leases_this_acquire_took_and_keeps_the_error(call):
    expired = held(OTHER, duration=20)
    expired["metadata"]["namespace"] = "a"
    store, clock = Store([expired], namespaces=("a", "aa", "b")), Clock()
    clock.t = 30        # OTHER's Lease of a expired: taken over; aa's created; b's refused
    store.refuse[(call, "b")] = FORBIDDEN
    with pytest.raises(MeshError) as err:
        acquire(store, clock, namespaces=["b", "aa", "a"])
    assert err.value is FORBIDDEN and err.value.details == {"status": 403}
    assert [c for c in store.calls if c[0] != "read"] == [("update", "a"), ("create", "aa")] + \
        ([("create", "b")] if call == "create" else []) + [("delete", "a"), ("delete", "aa")]
    assert store.leases == {}


def test_a_failed_call_keeps_the_leases_the_run_held_before():
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["a"])
    store.refuse[("read", "b")] = FORBIDDEN
    with pytest.raises(MeshError, match="forbidden"):
        acquire(store, clock, namespaces=["a", "b"])      # a: renewed, so still this run's
    assert _lock.holder(store.leases["a"]) == ME


def test_when_giving_back_fails_too_the_error_says_which_locks_are_kept():
    store, clock = Store(), Clock()
    store.refuse[("read", "b")] = MeshError("Failed to read Lease b/meshops-istio-vm: forbidden", {"status": 403})
    store.refuse[("delete", "a")] = MeshError("Failed to delete Lease a/meshops-istio-vm: connection refused")
    with pytest.raises(MeshError) as err:
        acquire(store, clock, namespaces=["a", "b"])
    assert err.value.message.startswith("Failed to read Lease b/meshops-istio-vm: forbidden")
    assert "could not be given back: Failed to delete Lease a/meshops-istio-vm: connection refused" in err.value.message
    assert err.value.details == {"status": 403, "kept": ["a"]}


def test_a_race_lost_between_read_and_write_reads_again():
    store, clock = Store(), Clock()
    store.before_write = lambda s: s.leases.update(ns=dict(held(OTHER), metadata=dict(
        held(OTHER)["metadata"], namespace="ns")))
    with pytest.raises(MeshError, match="holds the lock of namespace ns"):
        acquire(store, clock, namespaces=["ns"], timeout=3)
    assert store.calls[:3] == [("read", "ns"), ("create", "ns"), ("read", "ns")]


def test_two_runs_one_waits_for_the_other():
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["ns"])
    clock.sleep(1)
    # the first run gives the lock back while the second one waits
    original_sleep = clock.sleep

    def sleep_then_release(seconds):
        original_sleep(seconds)
        if clock.t >= 4 and "ns" in store.leases and _lock.holder(store.leases["ns"]) == ME:
            _lock.release(store, ["ns"], ME, False)

    clock.sleep = sleep_then_release
    res = acquire(store, clock, namespaces=["ns"], me=OTHER)
    assert res["actions"] == {"ns": "create"} and res["waited"] == 3
    assert store.leases["ns"]["spec"]["holderIdentity"] == OTHER


def test_a_namespace_that_does_not_exist_yet_is_deferred():
    store, clock = Store(namespaces=("a",)), Clock()
    res = acquire(store, clock, namespaces=["a", "new"])
    assert res["acquired"] == ["a"] and res["deferred"] == ["new"]


def test_a_namespace_that_does_not_exist_yet_is_created_when_the_run_creates_it_anyway():
    store, clock = Store(namespaces=("a",)), Clock()
    store.create_namespace = lambda ns: store.namespaces.add(ns) or True
    res = _lock.acquire(store, ["new"], ME, 60, 10, False, create_namespaces=True, now=clock.now,
                        clock=clock.monotonic, sleep=clock.sleep)
    assert res["acquired"] == ["new"] and res["created_namespaces"] == ["new"] and res["deferred"] == []


def test_a_namespace_created_meanwhile_by_another_run_is_not_reported_as_created_by_this_one():
    store, clock = Store(namespaces=("a",)), Clock()

    def create_namespace(ns):          # the namespace appeared between the write and this create
        store.namespaces.add(ns)
        return False
    store.create_namespace = create_namespace
    res = _lock.acquire(store, ["new"], ME, 60, 10, False, create_namespaces=True, now=clock.now,
                        clock=clock.monotonic, sleep=clock.sleep)
    assert res["acquired"] == ["new"] and res["created_namespaces"] == [] and res["deferred"] == []


def test_check_mode_only_reads_and_does_not_wait():
    store, clock = Store([held(OTHER)]), Clock()
    res = acquire(store, clock, namespaces=["a", "ns"], check=True)
    assert res["actions"] == {"a": "create", "ns": "wait"} and res["holders"] == {"ns": OTHER}
    assert res["acquired"] == ["a"] and res["changed"] and res["waited"] == 0
    assert all(call[0] == "read" for call in store.calls)
    assert _lock.release(store, ["ns"], OTHER, True)["released"] == ["ns"] and "ns" in store.leases


def test_release_leaves_a_lease_another_run_took_over():
    store = Store([held(OTHER)])
    res = _lock.release(store, ["ns"], ME, False)
    assert res == {"changed": False, "released": [], "holders": {"ns": OTHER}, "holder": ME}
    assert "ns" in store.leases


def test_a_run_that_lost_a_lease_it_held_fails_at_once_and_gives_back_what_this_call_took():
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["b"])
    clock.sleep(61)             # ran out while a play took longer, and another run took it over
    acquire(store, clock, namespaces=["b"], me=OTHER)
    before = copy.deepcopy(store.leases["b"])
    with pytest.raises(MeshError) as err:
        _lock.acquire(store, ["a", "b"], ME, 60, 300, False, held=["b"], now=clock.now, clock=clock.monotonic,
                      sleep=clock.sleep)
    assert err.value.message.startswith("This run lost the lock of namespace b: its Lease b/meshops-istio-vm is "
                                        "held by another run now: %s. " % OTHER)
    assert "took longer than 60 seconds (mesh_workload_lock_duration;" in err.value.message
    assert err.value.details == {"namespace": "b", "holder": OTHER, "lost": True}
    assert clock.t == 61                                    # no wait
    assert "a" not in store.leases and store.leases["b"] == before


@pytest.mark.parametrize("now_there", ["gone", "given back"])
def test_a_held_lease_gone_or_without_holder_is_taken_again(now_there):
    """AWX slices that share a holder: the first that ends deletes the Lease the others renew."""
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["b"])
    if now_there == "gone":
        del store.leases["b"]
    else:
        store.leases["b"]["spec"]["holderIdentity"] = ""
    res = _lock.acquire(store, ["b"], ME, 60, 300, False, held=["b"], now=clock.now, clock=clock.monotonic,
                        sleep=clock.sleep)
    assert res["actions"] == {"b": "create" if now_there == "gone" else "take"} and _lock.holder(store.leases["b"]) == ME


def test_a_held_lease_still_ours_is_renewed_even_after_it_ran_out():
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["a"])
    clock.sleep(600)                    # expired, but no other run took it: still this run's
    res = _lock.acquire(store, ["a", "b"], ME, 60, 10, False, held=["a"], now=clock.now, clock=clock.monotonic,
                        sleep=clock.sleep)
    assert res["actions"] == {"a": "renew", "b": "create"}


def test_a_release_that_finds_a_held_lease_another_runs_gives_back_the_others_then_fails():
    store, clock = Store(), Clock()
    acquire(store, clock, namespaces=["a", "b"])
    clock.sleep(61)             # b ran out during the last play, and another run took it over
    acquire(store, clock, namespaces=["b"], me=OTHER)
    third = "awx job 9 on ctl started z run 3"
    store.leases["c"] = dict(held(third), metadata=dict(held(third)["metadata"], namespace="c"))
    with pytest.raises(MeshError) as err:
        _lock.release(store, ["a", "b", "c"], ME, False, held=["a", "b", "c"], duration=60)
    assert err.value.message.startswith("This run lost the lock of namespace b: its Lease b/meshops-istio-vm is "
                                        "held by another run now: %s. " % OTHER)
    assert "changed the namespace's workloads while this run did. Run this one again" in err.value.message
    assert "Lost as well: the lock of namespace c, held by %s." % third in err.value.message
    assert "took longer than 60 seconds" in err.value.message
    assert err.value.details == {"lost": {"b": OTHER, "c": third}, "holders": {"b": OTHER, "c": third},
                                 "released": ["a"]}
    assert "a" not in store.leases and _lock.holder(store.leases["b"]) == OTHER
    del store.leases["c"]
    # not held before (another run's all along), or gone: reported, no failure
    assert _lock.release(store, ["b", "c"], ME, False, held=["c"])["holders"] == {"b": OTHER}
