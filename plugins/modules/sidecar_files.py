#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sidecar_files
short_description: A VM sidecar's directories, files, token and /etc/hosts block in one module run
version_added: 0.1.0
description:
  - Sets up, in one run on the VM, what the sidecar reads there, in this order, O(directories),
    O(files), O(token), the marked O(block) in a file such as C(/etc/hosts), then removes O(absent).
    It replaces a loop of M(ansible.builtin.file), M(ansible.builtin.copy), M(ansible.builtin.template)
    and M(ansible.builtin.blockinfile) tasks, each of which costs a round trip to the VM.
  - Each file is written atomically, a temporary file in the same directory (mode 0600 while it is
    written) gets its owner, group and mode, then is renamed over the old one. A file that is not
    rewritten (no content given, or the same content) still gets its owner, group and mode; an
    existing file with O(files[].force=false) is left as it is.
  - A file that users other than root can write and that the new owner, group and mode take that
    away from is not changed in place, since one of them may hold it open. With content, it is written
    again as a new file; without, see O(files[].package).
  - The action plugin of the same name reads O(files[].src) and O(token.src) on the controller and
    passes their content to the module, so that the VM gets everything in one SSH round trip
    (with pipelining on; without it, Ansible writes the module with its arguments, the token
    included, to a temporary file of the remote user, removed after the run).
  - The token's content is given in its own option, never logged, never in the diff or the result.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  directories:
    description:
      - Directories to create or fix, before the files. A symlink to a directory is followed.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: Its owner; unset leaves it.
        type: str
      group:
        description: Its group; unset leaves it.
        type: str
      mode:
        description: Its mode, an octal string such as V('0755'); unset leaves it (V('0755') when created).
        type: raw
  files:
    description:
      - Whole files. A path that exists and is not a regular file is an error.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file on the VM.
        type: path
        required: true
      content:
        description:
          - The content to write. Without O(files[].content) and O(files[].src), only the owner,
            group and mode of an existing file are fixed.
        type: str
      src:
        description:
          - A file on the controller whose content the action plugin passes as O(files[].content)
            (a relative path is looked up like M(ansible.builtin.copy)'s). Text, UTF-8.
        type: path
      owner:
        description: The file's owner; unset leaves it (root for a new file).
        type: str
      group:
        description: The file's group; unset leaves it.
        type: str
      mode:
        description: The file's mode, an octal string such as V('0640'); unset leaves it (V('0644') for a new file).
        type: raw
      force:
        description:
          - Rewrite an existing file whose content differs. V(false) only writes a missing file and leaves
            an existing one as it is, owner, group and mode included (as M(ansible.builtin.copy) does).
        type: bool
        default: true
      certificates:
        description:
          - Compare an existing file with O(files[].content) as PEM certificates. A file that holds a
            certificate of the content (the same certificate whatever its line breaks) is left as it is, owner,
            group and mode included; one that holds none of them is rewritten.
          - For C(/etc/certs/root-cert.pem), which istio-agent rewrites in its own way (its own mode, no last
            newline, perhaps fewer roots than the mesh's trust bundle) and which must be replaced when the mesh's
            root certificate changed.
        type: bool
        default: false
      package:
        description:
          - The installed package that shipped the file, for a file without O(files[].content) that users
            other than root can write now and could not with the new owner, group and mode (the package
            C(istio-sidecar)'s postinst gives C(istio-proxy) the directory of C(sidecar.env), which root sources).
          - Such a file is handed over only when its bytes are what the package database (dpkg's or rpm's)
            records for it, and then as a new file, so that nobody who had the old one open writes to it
            afterwards. Otherwise the module fails and leaves the file as it is.
          - Without O(files[].package), such a file only gets its new owner, group and mode.
        type: str
  token:
    description:
      - A secret file, written like an entry of O(files) but its content is never shown, the diff
        only says that it changed. Without O(token.content) and O(token.src), only the owner,
        group and mode of an existing token are fixed (the VM keeps its token).
    type: dict
    suboptions:
      dest:
        description: The token file on the VM.
        type: path
        required: true
      content:
        description: The token.
        type: str
      src:
        description: The token file on the controller, read by the action plugin.
        type: path
      owner:
        description: The token file's owner; unset leaves it.
        type: str
      group:
        description: The token file's group; unset leaves it.
        type: str
      mode:
        description: The token file's mode; unset leaves it (V('0644') for a new file, so set it).
        type: raw
  block:
    description:
      - A block between two marker lines in a file, as M(ansible.builtin.blockinfile) writes it with
        its defaults (same markers, so a block it wrote is replaced, not duplicated). The file keeps
        its owner and mode; a missing file is created 0644.
    type: dict
    suboptions:
      path:
        description: The file.
        type: path
        default: /etc/hosts
      marker:
        description: The marker line, C({mark}) standing for C(BEGIN) and C(END).
        type: str
        required: true
      block:
        description: The lines between the markers; empty removes the block and its markers.
        type: str
        required: true
  absent:
    description:
      - Files to remove, last. A directory is an error.
    type: list
    elements: path
    default: []
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - The action plugin reads O(files[].src) and O(token.src) on the controller. A task delegated to the controller
        (connection C(local), no C(become), no SELinux on the controller) runs entirely in Ansible's worker process,
        with the same results; elsewhere the module runs on the target.
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads everything and decides every change, writes nothing. An owner or group that does
      not exist yet (its package is not installed) is reported as a change. A file refused for
      O(files[].package) fails the check as it would fail the run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The old and new content of each file and of the block file, owner, group and mode of what
      only changes attributes; for the token only that it is replaced and its attributes.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.blockinfile
  - module: meshops.istio_vm.token_claims
"""

EXAMPLES = r"""
- name: The sidecar's files in one task
  meshops.istio_vm.sidecar_files:
    directories:
      - {path: /etc/certs, owner: istio-proxy, group: istio-proxy, mode: "0755"}
      - {path: /var/lib/istio/tokens, owner: istio-proxy, group: istio-proxy, mode: "0700"}
    files:
      - {src: .bootstrap/vm1/root-cert.pem, dest: /etc/certs/root-cert.pem, force: false,
         owner: istio-proxy, group: istio-proxy, mode: "0640"}
      - {src: .bootstrap/vm1/cluster.env, dest: /var/lib/istio/envoy/cluster.env,
         owner: root, group: istio-proxy, mode: "0640"}
      - dest: /etc/systemd/system/istio.service.d/10-meshops-token.conf
        content: "{{ lookup('ansible.builtin.template', '10-meshops-token.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
    token:
      src: .bootstrap/vm1/istio-token
      dest: /var/lib/istio/tokens/istio-token
      owner: istio-proxy
      group: istio-proxy
      mode: "0600"
    block:
      marker: "# {mark} meshops.istio_vm istiod"
      block: 10.0.0.5 istiod.istio-system.svc
  become: true
  register: sidecar_files
  notify: restart istio

- name: Keep the VM's token, fix its owner and mode only
  meshops.istio_vm.sidecar_files:
    token: {dest: /var/lib/istio/tokens/istio-token, owner: istio-proxy, group: istio-proxy, mode: "0600"}
  become: true
"""

RETURN = r"""
paths:
  description:
    - Each path the task manages, with its C(kind) (C(directory), C(file), C(secret), C(block)
      or C(absent)) and whether it C(changed) (would change, in check mode).
  returned: always
  type: dict
  sample: {"/etc/certs": {"kind": "directory", "changed": false},
           "/var/lib/istio/tokens/istio-token": {"kind": "secret", "changed": true},
           "/etc/hosts": {"kind": "block", "changed": false}}
diff:
  description: Before and after of each changed path (in diff mode); the token's content never.
  returned: changed, in diff mode
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio_vm.plugins.module_utils._files import Files, FilesError
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import package_digest

_ATTRS = {"owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "raw"}}

ARGUMENT_SPEC = {
    "directories": {"type": "list", "elements": "dict", "default": [],
                    "options": {"path": {"type": "path", "required": True}, **_ATTRS}},
    "files": {"type": "list", "elements": "dict", "default": [],
              "options": {"dest": {"type": "path", "required": True}, "content": {"type": "str"},
                          "src": {"type": "path"}, "force": {"type": "bool", "default": True},
                          "package": {"type": "str"}, "certificates": {"type": "bool", "default": False}, **_ATTRS}},
    # The dict names the token's file; only its content is secret.
    "token": {"type": "dict", "no_log": False,
              "options": {"dest": {"type": "path", "required": True}, "content": {"type": "str", "no_log": True},
                          "src": {"type": "path"}, **_ATTRS}},
    "block": {"type": "dict",
              "options": {"path": {"type": "path", "default": "/etc/hosts"}, "marker": {"type": "str", "required": True},
                          "block": {"type": "str", "required": True}}},
    "absent": {"type": "list", "elements": "path", "default": []},
}


def _content(entry, what):
    """The content given, None for attributes only; a ``src`` left means the action plugin did not run."""
    if entry.get("src") is not None and entry.get("content") is None:
        raise FilesError("%s: src is read on the controller by the action plugin meshops.istio_vm.sidecar_files; "
                         "give content instead" % what)
    return entry.get("content")


FAILED = "Failed to set up the sidecar's files: %s"


def apply(params, check_mode, diff, after_write=None, recorded_digest=None):
    """Set up what ``params`` (the validated options) describe; the module's result.
    ``recorded_digest(package, path)``: what the package database records of a file (files[].package).

    The module runs it on the VM; on the controller, the action plugin runs it in Ansible's process."""
    files = Files(check_mode, after_write, recorded_digest)
    for entry in params["directories"]:
        files.directory(entry["path"], entry["owner"], entry["group"], entry["mode"])
    for entry in params["files"]:
        files.file(entry["dest"], _content(entry, entry["dest"]), entry["owner"], entry["group"], entry["mode"],
                   force=entry["force"], package=entry["package"], certificates=entry["certificates"])
    token = params["token"]
    if token:
        files.file(token["dest"], _content(token, "token"), token["owner"], token["group"], token["mode"], secret=True)
    if params["block"]:
        files.block(params["block"]["path"], params["block"]["marker"], params["block"]["block"])
    for path in params["absent"]:
        files.absent(path)
    result = {"changed": files.changed, "paths": files.paths}
    if diff:
        result["diff"] = files.diff
    return result


def run(module):
    after_write = None
    if module.selinux_enabled():
        def after_write(path):
            module.set_default_selinux_context(path, False)
    return apply(module.params, module.check_mode, module._diff, after_write,
                 lambda package, path: package_digest(module, package, path))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except (FilesError, OSError) as e:
        module.fail_json(msg=FAILED % e)


if __name__ == "__main__":
    main()
