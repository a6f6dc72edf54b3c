# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE plugin_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""A filter plugin whose rule lives in module_utils: the rule raises MeshError, the filter reports
it as AnsibleFilterError (what a template shows), with the same message."""

from __future__ import annotations

import functools
from typing import Any, Callable

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError


def filter_of(rule: Callable[..., Any]) -> Callable[..., Any]:
    """``rule`` as a filter: its MeshError becomes an AnsibleFilterError with the same message."""
    @functools.wraps(rule)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return rule(*args, **kwargs)
        except MeshError as error:
            raise AnsibleFilterError(str(error)) from error
    return run
