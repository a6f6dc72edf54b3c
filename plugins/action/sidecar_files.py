# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs meshops.istio_vm.sidecar_files with the content of its ``src`` files.

It reads each ``files[].src`` and ``token.src`` on the controller (a relative path is looked up in
the role's or play's ``files/`` like ansible.builtin.copy's), passes their content as ``content``
and runs the module once on the VM, so that directories, files, token and hosts block take one
round trip. The token is only held in memory and in the module's arguments, where the module's
``no_log`` keeps it out of every result.

A task that writes on the controller itself (``delegate_to: localhost``, as the controller's
user: the record of mesh_workload) runs the module's code in this process instead, as the
cluster modules' action plugins do (plugins/plugin_utils/in_process.py): the same argument spec,
check mode, diff and result, without starting a Python interpreter for it. Not on a controller
with SELinux, where the module sets the default context of what it writes.
"""

from __future__ import annotations

import copy
import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._files import FilesError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, run_direct
from ansible_collections.meshops.istio_vm.plugins.modules.sidecar_files import ARGUMENT_SPEC, FAILED, apply
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.in_process import InProcessAction

MODULE = "meshops.istio_vm.sidecar_files"
SELINUX = "/sys/fs/selinux/enforce"   # there when the kernel runs SELinux (selinuxfs is mounted)


def run_here(task):
    """The module's work, in this process: what ``main()`` does with AnsibleModule."""
    try:
        return apply(task.params, task.check_mode, task._diff)  # pylint: disable=protected-access
    except (FilesError, OSError) as e:
        raise MeshError(FAILED % e) from None


SPEC = ModuleSpec(name="sidecar_files", argument_spec=ARGUMENT_SPEC, run=run_here, needs_kubernetes=False)


class ActionModule(InProcessAction):
    SPEC = SPEC
    TRANSFERS_FILES = False

    def in_process(self) -> bool:
        return super().in_process() and not os.path.exists(SELINUX)

    def _read(self, src, what):
        """The text of the controller file ``src`` (vault-encrypted files are decrypted)."""
        try:
            path = self._find_needle("files", src)
            real = self._loader.get_real_file(path, decrypt=True)
            try:
                with open(real, "rb") as handle:
                    return to_text(handle.read(), errors="surrogate_or_strict")
            finally:
                # a vault-encrypted file (a token) was decrypted to a temporary file: remove it now,
                # not only at the end of the task
                self._loader.cleanup_tmp_file(real)
        except (AnsibleError, OSError, UnicodeError) as e:
            raise AnsibleActionFail("%s: cannot read %s on the controller: %s" % (what, src, to_text(e))) from None

    def _with_content(self, entry, what):
        if not isinstance(entry, dict) or entry.get("src") is None:
            return entry
        if entry.get("content") is not None:
            raise AnsibleActionFail("%s: give src or content, not both" % what)
        entry = dict(entry)
        entry["content"] = self._read(entry.pop("src"), what)
        return entry

    def run(self, tmp=None, task_vars=None):
        result = ActionBase.run(self, tmp, task_vars)
        args = copy.deepcopy(self._task.args)
        try:
            files = args.get("files") or []
            if not isinstance(files, list):
                raise AnsibleActionFail("files must be a list")
            args["files"] = [self._with_content(entry, "files[%d]" % number) for number, entry in enumerate(files)]
            if args.get("token") is not None:
                args["token"] = self._with_content(args["token"], "token")
        except AnsibleActionFail as e:
            result.update(e.result)
            return result
        if self.in_process():
            result.update(run_direct(SPEC, args, bool(self._task.check_mode), bool(self._task.diff)))
        else:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
