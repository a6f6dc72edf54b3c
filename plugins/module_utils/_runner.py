# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""present/absent for one or many objects: read -> decide -> (dry-run) apply/delete -> diff.

The write is server-side apply with field manager ``meshops.istio_vm``. Whether anything
changed is decided by the server's own answer (before vs after, server metadata ignored);
in check mode that answer comes from ``dryRun=All``. A write is skipped entirely when the
fields this collection manages on the live object already equal the desired object.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.meshops.istio_vm.plugins.module_utils._client import FIELD_MANAGER
from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import diff, normalize
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

IDENTITY = ("apiVersion", "kind")

# Kinds that Kubernetes workloads use too, so that a VM workload may join one made by other means
# (a Service that selects pods and VMs, the ServiceAccount pods run as). The first apply marks the
# object with ORIGIN: ``created`` when this collection created it, ``adopted`` when it existed.
# Later applies keep the mark. Removing an adopted object gives it back instead of deleting it
# (release): an apply of the bare object takes this collection's fields off, and the fields
# another manager set stay, with the object.
ADOPTABLE_KINDS = frozenset(("Service", "ServiceAccount"))
# The label the role puts on everything it applies (roles/mesh_workload/vars/main.yml), with the
# field manager's name as its value.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ORIGIN = "istio-vm.meshops.io/origin"


def _extract(value: Any, fields: Mapping[str, Any]) -> Any:
    """The part of ``value`` named by a managedFields ``fieldsV1`` tree."""
    if not fields or not isinstance(value, Mapping):
        return copy.deepcopy(value)
    out: Dict[str, Any] = {}
    for key, sub in fields.items():
        if key == ".":
            continue
        if not key.startswith("f:"):
            # k:/v:/i: members of a set or map list: keep the whole list (compared atomically)
            return copy.deepcopy(value)
        name = key[2:]
        if name in value:
            out[name] = _extract(value[name], sub)
    return out


def managed_view(live: Mapping[str, Any], manager: str = FIELD_MANAGER) -> Optional[Dict[str, Any]]:
    """What ``manager`` owns of ``live`` (plus identity), as an apply body would state it.

    None when the manager has no Apply entry on the object.
    """
    entries = [m for m in (live.get("metadata", {}).get("managedFields") or [])
               if m.get("manager") == manager and m.get("operation") == "Apply"]
    if not entries:
        return None
    owned: Dict[str, Any] = {}
    for entry in entries:
        _merge(owned, entry.get("fieldsV1") or {})
    view = _extract(live, owned)
    for key in IDENTITY:
        view[key] = live.get(key)
    meta = view.setdefault("metadata", {})
    for key in ("name", "namespace"):
        if key in live.get("metadata", {}):
            meta[key] = live["metadata"][key]
    return view


def _merge(into: Dict[str, Any], fields: Mapping[str, Any]) -> None:
    for key, sub in fields.items():
        if isinstance(sub, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], sub)
        else:
            into[key] = copy.deepcopy(sub)


def _prune_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _prune_empty(v) for k, v in value.items() if v not in ({}, None)}
    return value


def differing_paths(view: Any, desired: Any, prefix: str = "", depth: int = 3) -> List[str]:
    """The dotted paths where this collection's view of a live object (managed_view) and the object
    an apply would write (``normalize`` of the desired object) differ, empty values left out, down to
    ``depth`` levels."""
    a, b = _prune_empty(view), _prune_empty(desired)
    if a == b:
        return []
    if depth == 0 or not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return [prefix or "."]
    out: List[str] = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out += differing_paths(a.get(key), b.get(key), "%s.%s" % (prefix, key) if prefix else key, depth - 1)
    return out


def in_sync(desired: Mapping[str, Any], live: Optional[Mapping[str, Any]]) -> bool:
    """True when applying ``desired`` cannot change ``live``: nothing to write."""
    if live is None:
        return False
    view = managed_view(live)
    return view is not None and _prune_empty(view) == _prune_empty(normalize(desired))


def outcome(kind: str, before: Optional[Mapping[str, Any]], after: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The module result for one object, from the server's before and after."""
    nb, na = normalize(before), normalize(after)
    changed = nb != na
    if before is None and after is not None:
        method = "created"
    elif after is None:
        method = "deleted" if before is not None else "absent"
    else:
        method = "updated" if changed else "unchanged"
    return {"changed": changed, "method": method, "result": normalize(after, keep_status=True) or {},
            "diff": diff(before, after)}


def origin(live: Optional[Mapping[str, Any]]) -> str:
    """The ORIGIN mark of a live object: ``created``, ``adopted`` or empty (none, or not ours)."""
    value = (((live or {}).get("metadata") or {}).get("annotations") or {}).get(ORIGIN, "")
    return value if value in ("created", "adopted") else ""


def _applied_by_this_collection_alone(live: Mapping[str, Any]) -> bool:
    """Whether this collection's field manager is the only manager of the object itself (status left
    out): what a release that did not mark objects yet (0.1.0) leaves on one it created."""
    managers = {m.get("manager") for m in (live.get("metadata", {}).get("managedFields") or [])
                if not m.get("subresource")}
    return managed_view(live) is not None and managers == {FIELD_MANAGER}


def with_origin(desired: Dict[str, Any], live: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``desired`` with the ORIGIN mark when its kind is adoptable: the live object's mark, else
    ``created`` when there is no live object, or one that only this collection ever applied (made by a
    release before the mark), and ``adopted`` when there is another."""
    if desired.get("kind") not in ADOPTABLE_KINDS:
        return desired
    mark = origin(live) or ("created" if live is None or _applied_by_this_collection_alone(live) else "adopted")
    out = copy.deepcopy(desired)
    out["metadata"]["annotations"] = dict(out["metadata"].get("annotations") or {}, **{ORIGIN: mark})
    return out


def ours(live: Mapping[str, Any]) -> bool:
    """Whether a live object is this collection's: its field manager applied it, or it carries the
    collection's managed-by label (the mark prune goes by)."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    return managed_view(live) is not None or labels.get(MANAGED_BY_LABEL) == FIELD_MANAGER


def removal(live: Mapping[str, Any]) -> str:
    """How to remove a live object of an adoptable kind: ``delete`` one this collection created (or
    applied before it marked objects), ``release`` one it adopted, ``keep`` one it has no fields of
    (given back already, or never its own)."""
    mark = origin(live)
    if mark:
        return "delete" if mark == "created" else "release"
    return "delete" if managed_view(live) is not None else "keep"


def bare(desired: Mapping[str, Any]) -> Dict[str, Any]:
    """The object with nothing but its identity: applied, it takes this manager's fields off."""
    meta = {key: desired["metadata"][key] for key in ("name", "namespace") if key in desired["metadata"]}
    return {"apiVersion": desired["apiVersion"], "kind": desired["kind"], "metadata": meta}


def _pinned(desired: Mapping[str, Any], live: Mapping[str, Any]) -> Dict[str, Any]:
    """``desired`` with the UID of ``live``: an apply of it changes that object only. The API server
    refuses it (409) when the object is gone, and (422, the UID is immutable) when another object of the
    same name took its place, instead of creating one."""
    out = copy.deepcopy(dict(desired))
    out["metadata"]["uid"] = live["metadata"]["uid"]
    return out


def _update(client: Any, desired: Dict[str, Any], live: Mapping[str, Any], check_mode: bool,
            force_conflicts: bool) -> Dict[str, Any]:
    """Apply ``desired`` to the object ``live`` and no other (``create`` false): method ``missing`` when it
    went meanwhile, or another of its name took its place. After a refusal the namespace is listed (the
    role's RBAC grants list, not get, on auto-registered entries); when that fails too, the refusal is
    the error."""
    kind, meta = desired["kind"], desired["metadata"]
    uid = (live.get("metadata") or {}).get("uid")
    if not uid:
        raise MeshError("%s %s/%s has no metadata.uid: cannot update it without creating one"
                        % (kind, meta.get("namespace"), meta["name"]))
    try:
        after = client.apply(_pinned(desired, live), dry_run=check_mode, force=force_conflicts)
    except MeshError as exc:
        if exc.details.get("status") not in (409, 422):
            raise
        try:
            uids = [(o.get("metadata") or {}).get("uid") for o in client.list(kind, meta.get("namespace"))
                    if (o.get("metadata") or {}).get("name") == meta["name"]]
        except MeshError:
            raise exc from None
        if uid in uids:
            raise
        return dict(outcome(kind, None, None), method="missing")
    return outcome(kind, live, after)


def ensure(client: Any, desired: Dict[str, Any], state: str, check_mode: bool, force_conflicts: bool,
           live: Any = "read", create: bool = True) -> Dict[str, Any]:
    """Make one object present or absent. ``live`` may be passed in when already listed.

    Absent removes only what is this collection's: an object of another kind that this field manager
    never applied and that does not carry its managed-by label (made by hand, by istioctl or by another
    tool under the same name) stays, with method ``kept``; a Service or ServiceAccount goes as
    ``removal`` says.

    Present without ``create`` changes only the object read, never creates one (an object another
    controller creates and owns, such as istiod's auto-registered WorkloadEntries): method ``missing``
    when there is none, or it went before the write (the write carries its UID)."""
    kind, meta = desired["kind"], desired["metadata"]
    if live == "read":
        live = client.get(kind, meta.get("namespace"), meta["name"])
    if state == "absent":
        if live is None:
            return outcome(kind, None, None)
        how = removal(live) if kind in ADOPTABLE_KINDS else "delete" if ours(live) else "keep"
        if how == "release":
            after = client.apply(bare(desired), dry_run=check_mode, force=False)
            return dict(outcome(kind, live, after), method="released")
        if how == "keep":
            return dict(outcome(kind, live, live), method="released" if kind in ADOPTABLE_KINDS else "kept")
        client.delete(kind, meta.get("namespace"), meta["name"], dry_run=check_mode)
        return outcome(kind, live, None)
    if live is None and not create:
        return dict(outcome(kind, None, None), method="missing")
    desired = with_origin(desired, live)
    if in_sync(desired, live):
        return outcome(kind, live, live)
    if not create:
        return _update(client, desired, live, check_mode, force_conflicts)
    after = client.apply(desired, dry_run=check_mode, force=force_conflicts)
    return outcome(kind, live, after)


def ensure_many(client: Any, objects: List[Dict[str, Any]], state: str, check_mode: bool,
                force_conflicts: bool, workers: int = 8, create: bool = True) -> List[Dict[str, Any]]:
    """Many objects of one kind: one LIST per namespace, writes only where needed, in parallel.

    Every object is tried. When some fail, MeshError names each failure and carries the results
    of all objects (``failed`` and ``msg`` on the ones that failed) and whether anything changed.
    """
    live: Dict[tuple, Dict[str, Any]] = {}
    kind = objects[0]["kind"] if objects else ""
    for namespace in sorted({o["metadata"]["namespace"] for o in objects}):
        for item in client.list(kind, namespace):
            live[(namespace, item["metadata"]["name"])] = item

    def one(obj: Dict[str, Any]) -> Dict[str, Any]:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        try:
            return ensure(client, obj, state, check_mode, force_conflicts, live=live.get(key), create=create)
        except MeshError as exc:
            return {"changed": False, "failed": True, "msg": exc.message, "method": "failed", "diff": {}}

    if len(objects) <= 1:
        results = [one(o) for o in objects]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(objects))) as pool:
            results = list(pool.map(one, objects))
    failed = [(o, r) for o, r in zip(objects, results) if r.get("failed")]
    if failed:
        results = [dict(r, name=o["metadata"]["name"], namespace=o["metadata"]["namespace"])
                   for o, r in zip(objects, results)]
        raise MeshError("%d of %d %s objects failed (the others are applied, see results): %s"
                        % (len(failed), len(objects), kind,
                           "; ".join("%s/%s: %s" % (o["metadata"]["namespace"], o["metadata"]["name"], r["msg"])
                                     for o, r in failed)),
                        {"changed": any(r["changed"] for r in results), "results": results,
                         "diff": [r["diff"] for r in results]})
    return results
