# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure helpers for Ansible diff mode: objects without what the API server owns, and files."""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional

# Metadata the apiserver owns; it changes on every write and means nothing to the user.
SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


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


def file_diff(path: str, before: str, after: str) -> Dict[str, str]:
    """One file's change as ansible.builtin.copy shows it: a unified diff of its text under its path."""
    return {"before_header": path, "after_header": path, "before": before, "after": after}
