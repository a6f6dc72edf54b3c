#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sidecar_package_info
short_description: What a VM has of the sidecar's package and service, in one module run
version_added: 0.2.0
description:
  - Reads on the VM, in one run, what deciding on the install of the sidecar's package needs,
    whether its service is active and enabled, the package file (present, SHA-256, version), the installed
    package, and whether a dpkg run was interrupted. It replaces a
    C(systemctl is-active), C(systemctl is-enabled), M(ansible.builtin.stat), C(dpkg-deb), C(dpkg-query) and
    M(ansible.builtin.find) task, each of which costs a round trip to the VM.
  - Changes nothing.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  path:
    description:
      - The package file on the VM (a C(.deb) or C(.rpm)). A missing file is reported, not an error.
    type: path
    required: true
  format:
    description:
      - The package format, which decides how the installed package and the file's version are read.
    type: str
    choices: [deb, rpm]
    default: deb
  name:
    description:
      - The installed package's name.
    type: str
    default: istio-sidecar
  service:
    description:
      - The systemd unit whose state is read.
    type: str
    default: istio.service
extends_documentation_fragment:
  - meshops.istio_vm.auth.info_attributes
seealso:
  - module: meshops.istio_vm.sidecar_files
  - module: ansible.builtin.package_facts
"""

EXAMPLES = r"""
- name: Read the sidecar's package and service
  meshops.istio_vm.sidecar_package_info:
    path: /var/cache/meshops-istio-vm/istio-sidecar.deb
  become: true
  register: sidecar_package

- name: Install the .deb when the installed version differs from the file's
  ansible.builtin.command:
    argv: [apt-get, install, --yes, /var/cache/meshops-istio-vm/istio-sidecar.deb]
  when:
    - sidecar_package.file.exists
    - sidecar_package.installed.version != sidecar_package.file.version
"""

RETURN = r"""
service:
  description: The state of O(service), as C(systemctl is-active) prints it (C(active), C(inactive), C(failed), ...).
  returned: always
  type: str
  sample: active
enabled:
  description:
    - Whether O(service) starts at boot, as C(systemctl is-enabled) prints it (C(enabled), C(disabled),
      C(masked), ...; C(unknown) when it prints nothing, for example without the unit).
  returned: always
  type: str
  sample: enabled
file:
  description: The package file.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether O(path) is a regular file.
      type: bool
    sha256:
      description: Its SHA-256, lower case; empty when it does not exist.
      type: str
    version:
      description: The version its package metadata gives; empty when it does not exist or has none.
      type: str
  sample: {"exists": true, "sha256": "9f86d0...", "version": "1:1.24.0"}
installed:
  description:
    - The installed package. For C(deb), C(query) is what
      C(dpkg-query --show --showformat='${db:Status-Abbrev}|${Version}') prints (empty when dpkg
      does not know the package), the input of the filter P(meshops.istio_vm.dpkg_plan#filter).
  returned: always
  type: dict
  contains:
    present:
      description: Whether the package is installed (for C(deb), its status is C(ii)).
      type: bool
    version:
      description: The installed version; empty when it is not installed.
      type: str
    query:
      description: The C(dpkg-query) line (C(deb) only, else empty).
      type: str
  sample: {"present": true, "version": "1:1.24.0", "query": "ii |1:1.24.0"}
dpkg_interrupted:
  description: Whether dpkg's journal (C(/var/lib/dpkg/updates)) holds a file, left by an interrupted dpkg run (C(deb) only).
  returned: always
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio_vm.plugins.module_utils._package import (
    journal_interrupted, parse_deb_query, sha256_of)


def run(module):
    params = module.params
    path, deb = params["path"], params["format"] == "deb"

    rc, out, _err = module.run_command(["systemctl", "is-active", params["service"]])
    service = out.strip() or "unknown"
    rc, out, _err = module.run_command(["systemctl", "is-enabled", params["service"]])
    enabled = out.strip() or "unknown"

    file_info = {"exists": os.path.isfile(path), "sha256": "", "version": ""}
    if file_info["exists"]:
        file_info["sha256"] = sha256_of(path)
        if deb:
            rc, out, _err = module.run_command(["dpkg-deb", "--field", path, "Version"])
        else:
            rc, out, _err = module.run_command(["rpm", "--query", "--package", "--queryformat", "%{VERSION}-%{RELEASE}",
                                                path])
        file_info["version"] = out.strip() if rc == 0 else ""

    if deb:
        rc, out, err = module.run_command(["dpkg-query", "--show", "--showformat=${db:Status-Abbrev}|${Version}",
                                           params["name"]])
        if rc not in (0, 1):
            module.fail_json(msg="dpkg-query failed (rc %d): %s" % (rc, err.strip()))
        query = out.strip() if rc == 0 else ""
        present, version = parse_deb_query(query)
    else:
        rc, out, err = module.run_command(["rpm", "--query", "--queryformat", "%{VERSION}-%{RELEASE}", params["name"]])
        query, present = "", rc == 0
        version = out.strip() if present else ""

    return {"changed": False, "service": service, "enabled": enabled, "file": file_info,
            "installed": {"present": present, "version": version, "query": query},
            "dpkg_interrupted": deb and journal_interrupted()}


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True},
                       "format": {"type": "str", "choices": ["deb", "rpm"], "default": "deb"},
                       "name": {"type": "str", "default": "istio-sidecar"},
                       "service": {"type": "str", "default": "istio.service"}},
        supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except OSError as e:
        module.fail_json(msg="Failed to read the sidecar's package: %s" % e)


if __name__ == "__main__":
    main()
