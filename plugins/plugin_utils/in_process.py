# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE plugin_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The action plugin of every cluster-side module: run the module's code in this process.

The cluster tasks run on the controller (``delegate_to: localhost``). Executed as modules, each
of them starts a new Python interpreter and imports ansible and the kubernetes client again:
~0.4 s a task, about all of its time. Run here instead, a task costs what its API calls cost.
Importing this file imports the kubernetes client and loads the plugins templates use
(_load_template_plugins), then freezes the objects of Ansible's main process for the garbage
collector (_freeze_before_the_forks); the linear and free strategies load an action plugin's class
before they fork the task's worker, so every worker finds all of it loaded.

The module's own ``ModuleSpec`` is what runs, through ``_module.run_direct``: the same argument
spec, validation messages, check mode, ``changed``, diff, warnings and no_log masking.

The module itself runs instead when the task does not run on the controller as the controller's
user: a connection other than ``local`` (``delegate_to`` a jump host), ``become``, a controller
Python without the kubernetes library, or ``MESHOPS_ISTIO_VM_IN_PROCESS=0`` in the controller's
environment (to compare both paths).
"""

from __future__ import annotations

import gc
import os

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, run_direct

ENV_SWITCH = "MESHOPS_ISTIO_VM_IN_PROCESS"


def _freeze_before_the_forks() -> None:
    """Move every object of Ansible's main process into the garbage collector's permanent
    generation (after one full collection, so that no garbage is kept).

    The linear and free strategies fork a worker per task and host. Each worker inherits the main
    process's objects (ansible, its plugins, the inventory, the playbook, the client), and each
    full collection in a worker walked all of them again: about 0.1 to 0.15 s a time, and it
    writes to every page it visits, which the worker then copies. Frozen, they are not walked.
    This is what Python's documentation of ``gc.freeze`` recommends for a parent that forks.
    Measured on an unchanged onboard of one lab VM: the full collections took 1.2 s before and
    0.26 s after. Objects created later are collected as before; the frozen ones stay in memory
    as long as they are referenced, as they would anyway."""
    gc.collect()
    gc.freeze()


# The lookups the collection's roles and playbooks call (tests/unit/plugins/test_template_plugins_loaded.py keeps the list).
LOOKUPS = ("ansible.builtin.file", "ansible.builtin.fileglob", "ansible.builtin.template", "ansible.builtin.vars",
           "meshops.istio_vm.run_holder")


def _load_template_plugins() -> tuple:
    """Load the filter, test and lookup plugins that templates use, here, before the forks; return
    the names that were not found (none, unless a plugin is missing).

    Ansible loads them in the process that first uses one, and keeps them in that process: in a
    worker forked for one task, every first use loaded them again. The first of this collection's
    filters loaded every filter file of plugins/filter (and the module_utils they import), and
    the first builtin filter or test scanned the builtin plugin directories. Loaded here, in the
    main process (the loaders cache them, and a worker inherits the caches), no worker loads them.
    Measured on a fresh onboard of four lab VMs: 35 workers loaded the filter files, 0.9 s in all
    (docs/performance.md). A loader that learns a new plugin directory later (a role's
    filter_plugins) drops its caches and loads again, as before."""
    from ansible.plugins.loader import filter_loader, lookup_loader, test_loader

    # One name each: the first builtin filter or test wraps them all, the first of this
    # collection's filters loads all of its filter files.
    wanted = ((filter_loader, "ansible.builtin.default"), (test_loader, "ansible.builtin.defined"),
              (filter_loader, "meshops.istio_vm.dpkg_plan")) + tuple((lookup_loader, name) for name in LOOKUPS)
    missing = []
    for loader, name in wanted:
        try:
            found = loader.get(name, class_only=True)
        except Exception:  # pylint: disable=broad-exception-caught
            # Only an early load: a plugin that does not load here loads (or fails, with
            # Ansible's own message) in the worker that uses it, as it would without this.
            found = None
        if found is None:
            missing.append(name)
    return tuple(missing)


_client.warm_up()   # in Ansible's main process: the strategy loads this class before it forks
_load_template_plugins()
_freeze_before_the_forks()


class InProcessAction(ActionBase):
    """Subclasses set ``SPEC``, the ModuleSpec of the module of the same name."""

    SPEC: ModuleSpec = None
    _supports_check_mode = True
    _supports_async = False

    def in_process(self) -> bool:
        """Whether this task may run here rather than as a module on its target."""
        return (boolean(os.environ.get(ENV_SWITCH, "1"), strict=False)
                and (_client.HAS_KUBERNETES or not self.SPEC.needs_kubernetes)
                and getattr(self._connection, "transport", None) == "local"
                and not self._play_context.become)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if not self.in_process():
            result.update(self._execute_module(module_name=self.SPEC.fqcn, module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        environment: dict = {}
        self._compute_environment_string(environment)   # the task's `environment:`, as a module gets it
        saved = {key: os.environ.get(key) for key in environment}
        os.environ.update({key: str(value) for key, value in environment.items()})
        try:
            result.update(run_direct(self.SPEC, dict(self._task.args), bool(self._task.check_mode)))
        finally:
            _client.remove_credential_files()   # the worker ends with os._exit: no atexit
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return result
