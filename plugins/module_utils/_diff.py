# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure helpers for comparing objects, Ansible diff mode, and keeping secrets out of results."""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, Mapping, Optional

# Metadata the apiserver owns; it changes on every write and means nothing to the user.
SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
# Keys whose values are secret wherever they appear (the VM's service account token file).
SECRET_KEYS = ("istio-token", "token")
REDACTED = "********"


def normalize(obj: Optional[Mapping[str, Any]], keep_status: bool = False) -> Optional[Dict[str, Any]]:
    """A deep copy of ``obj`` without server-owned metadata (and without ``status`` unless kept).

    ``None`` (object absent) stays ``None``. Metadata left empty is dropped.
    """
    if obj is None:
        return None
    out = copy.deepcopy(dict(obj))
    if not keep_status:
        out.pop("status", None)
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for key in SERVER_METADATA:
            metadata.pop(key, None)
        if not metadata:
            out.pop("metadata")
    return out


def diff(before: Optional[Mapping[str, Any]], after: Optional[Mapping[str, Any]], keep_status: bool = False) -> Dict[str, Any]:
    """Ansible's ``diff`` return value; an absent object is shown as ``{}``."""
    return {
        "before": normalize(before, keep_status) or {},
        "after": normalize(after, keep_status) or {},
    }


def is_subset(desired: Any, existing: Any) -> bool:
    """Whether every value in ``desired`` is present and equal in ``existing``.

    Dicts compare key by key (``existing`` may hold more keys, such as server defaults);
    lists and scalars compare exactly.
    """
    if isinstance(desired, Mapping):
        if not isinstance(existing, Mapping):
            return False
        return all(key in existing and is_subset(value, existing[key]) for key, value in desired.items())
    return desired == existing


def needs_update(desired: Mapping[str, Any], existing: Optional[Mapping[str, Any]]) -> bool:
    """True when applying ``desired`` would change ``existing`` (or there is no existing object)."""
    if existing is None:
        return True
    return not is_subset(normalize(desired), normalize(existing))


def redact(value: Any, secrets: Iterable[str] = (), keys: Iterable[str] = SECRET_KEYS) -> Any:
    """A deep copy of ``value`` with secrets masked.

    Values under any key named in ``keys`` become ``REDACTED``; every occurrence of a string in
    ``secrets`` (e.g. the token itself) inside any string, key or value, is replaced by ``REDACTED``.
    """
    secret_list = sorted((s for s in secrets if s), key=len, reverse=True)
    key_set = frozenset(keys)
    return _redact(value, secret_list, key_set)


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redact(value: Any, secrets: Iterable[str], keys: frozenset) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            new_key = _mask(key, secrets) if isinstance(key, str) else key
            out[new_key] = REDACTED if key in keys and item is not None else _redact(item, secrets, keys)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(item, secrets, keys) for item in value)
    if isinstance(value, str):
        return _mask(value, secrets)
    return copy.deepcopy(value)
