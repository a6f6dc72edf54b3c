# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The one exception type raised by the collection's logic.

Helpers raise; only a module's ``main()`` converts, once, to ``fail_json(msg=..., **details)``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence


class MeshError(Exception):
    """An error with a user-facing message and optional structured details."""

    def __init__(self, message: str, details: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class ValidationError(MeshError):
    """Options that the real CRD schema or istiod's validation would reject.

    ``errors`` holds every problem found, each as ``<option path>: <rule>``; the message joins
    them behind the kind's prefix, e.g. ``workload_entry: ports.http: 70000 is not in 1..65535``.
    """

    def __init__(self, prefix: str, errors: Sequence[str]) -> None:
        self.prefix = prefix
        self.errors = list(errors)
        super().__init__("%s: %s" % (prefix, "; ".join(self.errors)), {"errors": self.errors})


class WaitTimeout(MeshError):
    """A wait for a condition ran out of time (_client.wait_until): what the caller may add its
    own detail to, unlike an error of the API calls the wait made."""
