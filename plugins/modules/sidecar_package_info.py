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
    whether its service is active and enabled and the ID of its current run, the package file (present,
    SHA-256, version, whether the packages it depends on are installed), the installed package, and whether a
    dpkg run was interrupted. It replaces a
    C(systemctl is-active), C(systemctl is-enabled), M(ansible.builtin.stat), C(dpkg-deb), C(dpkg-query) and
    M(ansible.builtin.find) task, each of which costs a round trip to the VM.
  - With O(facts) and O(token_path) it also reads, in the same run, the few facts the role
    meshops.istio_vm.vm_sidecar needs and the claims of the VM's token (never the token), which
    M(ansible.builtin.setup) and M(meshops.istio_vm.token_claims) read in a module run each.
  - With O(checksum), O(cert) and O(hosts) it also reads what M(meshops.istio_vm.vm_state_info) reads for them,
    so that a caller that changes nothing on the VM afterwards (an unchanged run of the role
    meshops.istio_vm.vm_sidecar) has what checking the VM against the inventory needs, without a second module run.
  - Warns when the package manager left files beside the installed package's config files (O(config_leftovers)), such
    as the package's new version of a config file edited on the VM that a later version changed too (dpkg keeps the
    VM's file and leaves the package's as C(.dpkg-dist)). Their differences are the operator's to carry over.
  - Changes nothing.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  path:
    description:
      - The package file on the VM (a C(.deb) or C(.rpm)). A missing file is reported, not an error.
      - One of O(path) and O(paths) is required.
    type: path
  paths:
    description:
      - The package file per format (keys C(deb), C(rpm)), for a caller that does not know the VM's
        format yet (see O(formats)); the file of the format chosen is read.
    type: dict
  format:
    description:
      - The package format, which decides how the installed package and the file's version are read.
      - Without it, the format O(formats) maps the VM's OS family to (C(os_family), see RV(ansible_facts)),
        or C(deb) when O(formats) is not given. When O(formats) has no format for the VM's family, or
        O(paths) no file for the format, no package is read (RV(format) is empty).
    type: str
    choices: [deb, rpm]
  formats:
    description:
      - The package format per OS family (C(os_family), see RV(ansible_facts)), for example C(deb) for C(Debian)
        and C(rpm) for C(RedHat).
    type: dict
  facts:
    description:
      - Also return, as RV(ansible_facts), C(os_family), C(distribution), C(architecture) and
        C(service_mgr), named as M(ansible.builtin.setup) names them; read from C(/etc/os-release)
        (C(ID), C(ID_LIKE), C(NAME)), the kernel's machine name and whether systemd booted the VM
        (C(/run/systemd/system) exists, the check of systemd's sd_booted; else the name of process 1).
    type: bool
    default: false
  token_path:
    description:
      - A service account token file (the VM's C(istio-token)) whose claims to return as RV(token_claims),
        as M(meshops.istio_vm.token_claims) does. The token itself is never returned.
    type: path
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
  ready_url:
    description:
      - The sidecar's readiness endpoint (C(http://localhost:15021/healthz/ready)), asked once with a
        C(GET) when O(service) is C(active), to return RV(ready). A caller that reads the VM before it
        changes anything learns in the same run whether the running sidecar answered ready.
      - Asked directly, never through a proxy from the environment (C(http_proxy), C(https_proxy), in
        either case), as the endpoint is on the VM itself, which a proxy elsewhere cannot reach.
    type: str
  ready_timeout:
    description:
      - Seconds to wait for the answer of O(ready_url).
    type: int
    default: 2
  checksum:
    description:
      - Files whose SHA-256 is returned as RV(checksums), as M(meshops.istio_vm.vm_state_info) returns them. A
        missing or unreadable file is reported, not an error.
    type: list
    elements: path
    default: []
  cert:
    description:
      - The workload certificate (PEM) to return as RV(cert), read as M(meshops.istio_vm.vm_state_info) reads it.
        A missing file is reported, not an error.
    type: path
  hosts:
    description:
      - The hosts file (C(/etc/hosts)) whose text is returned as RV(hosts).
    type: path
  restart_paths:
    description:
      - Files the running O(service) read when it started (its configuration, drop-ins, programs). Those that
        changed after the start of its main process are returned as RV(restart_pending) (a run that wrote them
        and ended before its restart left the sidecar running without them).
      - Compared by the file's change time (C(ctime)), to the second; a missing file is left out.
    type: list
    elements: path
    default: []
  config_leftovers:
    description:
      - Also read the files the package manager left beside the installed package's config files
        (RV(installed.config_leftovers)), and warn when there are any. False for a caller that removes the package
        (purging it removes them).
    type: bool
    default: true
extends_documentation_fragment:
  - meshops.istio_vm.auth.info_attributes
seealso:
  - module: meshops.istio_vm.sidecar_files
  - module: meshops.istio_vm.token_claims
  - module: meshops.istio_vm.vm_state_info
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

- name: The facts, the token's claims and the package of the VM's format, in one run
  meshops.istio_vm.sidecar_package_info:
    facts: true
    token_path: /var/lib/istio/tokens/istio-token
    formats: {Debian: deb, RedHat: rpm}
    paths:
      deb: /var/cache/meshops-istio-vm/istio-sidecar.deb
      rpm: /var/cache/meshops-istio-vm/istio-sidecar.rpm
  become: true
  register: vm_state
"""

RETURN = r"""
format:
  description: The format of the package read (see O(format)); empty when none was read.
  returned: always
  type: str
  sample: deb
path:
  description: The package file read (O(path), or the one O(paths) holds for RV(format)); empty when none was read.
  returned: always
  type: str
  sample: /var/cache/meshops-istio-vm/istio-sidecar.deb
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
invocation_id:
  description:
    - The ID systemd gave the current (or last) run of O(service) (its C(InvocationID), 32 hexadecimal digits),
      new on every start; empty when the unit has none (for example without the unit). A caller that lost the
      answer of a restart compares it with the ID read again to tell whether the restart ran.
  returned: always
  type: str
  sample: 6f1c8a3e0b9d4c2a8e7f5d3b1a0c9e8d
restart_pending:
  description:
    - The files of O(restart_paths) that changed more than 2 seconds after the main process of O(service) started
      (sorted); empty when the unit has no main process (not running) or O(restart_paths) is empty.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/istio/envoy/cluster.env]
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
    depends_installed:
      description:
        - C(deb) only (else false). Whether C(dpkg --install) alone can install the file - every clause of its
          C(Depends) and C(Pre-Depends) names an installed package without a version constraint, and it
          declares no C(Conflicts) or C(Breaks) - so that nothing needs C(apt-get) to resolve or fetch.
          False when in doubt (a versioned or virtual dependency).
        - The input O(meshops.istio_vm.dpkg_plan#filter:depends_installed) of the filter P(meshops.istio_vm.dpkg_plan#filter).
      type: bool
  sample: {"exists": true, "sha256": "9f86d0...", "version": "1:1.24.0", "depends_installed": true}
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
    config_leftovers:
      description:
        - The files beside the installed package's config files (as its package database lists them) that the
          package manager left there when a package changed a config file edited on the VM, sorted; empty when
          the package is not installed. For C(deb) C(<file>.dpkg-dist) (the package's version, dpkg kept the VM's)
          and C(<file>.dpkg-old) (the VM's, dpkg took the package's); for C(rpm) C(<file>.rpmnew) and
          C(<file>.rpmsave). The module warns when there is one. Empty without O(config_leftovers).
      type: list
      elements: str
  sample: {"present": true, "version": "1:1.24.0", "query": "ii |1:1.24.0", "config_leftovers": []}
dpkg_interrupted:
  description: Whether dpkg's journal (C(/var/lib/dpkg/updates)) holds a file, left by an interrupted dpkg run (C(deb) only).
  returned: always
  type: bool
  sample: false
ansible_facts:
  description: The VM's facts the role meshops.istio_vm.vm_sidecar needs.
  returned: when O(facts)
  type: dict
  contains:
    os_family:
      description: The OS family (C(Debian), C(RedHat), C(Suse), ...; else the distribution's name).
      type: str
    distribution:
      description: The distribution (C(Debian), C(Ubuntu), C(RedHat), C(Rocky), ...).
      type: str
    architecture:
      description: The kernel's machine name (C(x86_64), C(aarch64), ...).
      type: str
    service_mgr:
      description: C(systemd) when systemd booted the VM, else the name of process 1 (C(unknown) when unreadable).
      type: str
  sample: {"os_family": "Debian", "distribution": "Debian", "architecture": "x86_64", "service_mgr": "systemd"}
ready:
  description:
    - The answer of O(ready_url). C(status) is the HTTP status, -1 without an answer or when O(service)
      is not C(active) (then nothing is asked); C(msg) is worded as M(ansible.builtin.uri) words a status
      other than 200; C(url) is O(ready_url), as M(meshops.istio_vm.vm_state_info) returns it.
  returned: when O(ready_url) is given
  type: dict
  sample: {"status": 200, "msg": "OK (unknown bytes)", "url": "http://localhost:15021/healthz/ready"}
checksums:
  description: The SHA-256 of each file of O(checksum), lower case, by path; empty for a file that is missing or unreadable.
  returned: when O(checksum) is not empty
  type: dict
  sample: {"/var/lib/istio/envoy/cluster.env": "9f86d0..."}
cert:
  description:
    - The workload certificate of O(cert), as M(meshops.istio_vm.vm_state_info) returns it
      (RV(meshops.istio_vm.vm_state_info#module:cert)), with C(exists), C(uris) (its SPIFFE IDs), C(not_after),
      C(seconds_left) and C(chain) (the file's certificates as base64 DER).
  returned: when O(cert) is given
  type: dict
  sample: {"exists": true, "uris": ["spiffe://cluster.local/ns/bookinfo/sa/ratings"],
           "not_after": "Dec 3 12:00:00 2026 GMT", "seconds_left": 86012, "chain": ["MIIC...", "MIIB..."]}
hosts:
  description: The text of O(hosts); empty when it cannot be read.
  returned: when O(hosts) is given
  type: str
  sample: "127.0.0.1 localhost\n10.213.0.5 istiod.istio-system.svc\n"
token_claims:
  description:
    - The claims of O(token_path) as M(meshops.istio_vm.token_claims) returns them (C(iss), C(sub), C(left) and
      C(token)); only C(token) (false) when the file holds no token. Never the token.
  returned: when O(token_path)
  type: dict
  sample: {"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:bookinfo:ratings", "left": 3412,
           "token": true}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._files import read_text
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import (
    NO_PACKAGE, OS_RELEASE, SYSTEMD_RUNTIME, choose_package, os_facts, parse_os_release, read_package, unit_run,
    unit_state)
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import status
from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import (
    ask_ready, files_changed_after_start, ready_facts, vm_reads)


def read_os_facts():
    """os_facts of this host: its os-release file, machine name and init system."""
    text = next((found for found in map(read_text, OS_RELEASE) if found is not None), "")
    return os_facts(parse_os_release(text), os.uname().machine, os.path.isdir(SYSTEMD_RUNTIME),
                    read_text("/proc/1/comm") or "")


def run(module):
    params = module.params
    needs_family = params["formats"] is not None and not params["format"]
    facts = read_os_facts() if params["facts"] or needs_family else {}
    fmt, path = choose_package(params["format"], params["formats"], params["path"], params["paths"],
                               facts.get("os_family", ""))

    invocation_id, main_pid = unit_run(module, params["service"])
    result = {"changed": False, "format": fmt, "path": path,
              "service": unit_state(module, "is-active", params["service"]),
              "enabled": unit_state(module, "is-enabled", params["service"]),
              "invocation_id": invocation_id}
    result["restart_pending"] = files_changed_after_start(main_pid, params["restart_paths"])
    result.update(read_package(module, path, fmt == "deb", params["name"], leftovers=params["config_leftovers"]) if fmt
                  else dict(NO_PACKAGE, installed=dict(NO_PACKAGE["installed"])))
    # also without a package read, or with the option off: empty
    leftovers = result["installed"].setdefault("config_leftovers", [])
    if leftovers:
        module.warn("The package manager left %s beside config files of %s: another version of each (a config file "
                    "edited on the VM that a newer package changed too). Compare each with the file in use, carry over "
                    "what it lacks, then remove them." % (", ".join(leftovers), params["name"]))
    if params["facts"]:
        result["ansible_facts"] = facts
    now = time.time()
    if params["token_path"]:
        result["token_claims"] = status(read_text(params["token_path"]), None, now)
    if params["ready_url"]:
        if result["service"] == "active":
            result["ready"] = ask_ready(params["ready_url"], params["ready_timeout"])
        else:
            result["ready"] = ready_facts(-1, "not asked: %s is %s" % (params["service"], result["service"]))
        result["ready"]["url"] = params["ready_url"]
    result.update(vm_reads(module, params["checksum"], params["cert"], params["hosts"], now=now))
    return result


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path"},
                       "paths": {"type": "dict"},
                       "format": {"type": "str", "choices": ["deb", "rpm"]},
                       "formats": {"type": "dict"},
                       "facts": {"type": "bool", "default": False},
                       "token_path": {"type": "path", "no_log": False},
                       "name": {"type": "str", "default": "istio-sidecar"},
                       "service": {"type": "str", "default": "istio.service"},
                       "ready_url": {"type": "str"},
                       "ready_timeout": {"type": "int", "default": 2},
                       "checksum": {"type": "list", "elements": "path", "default": []},
                       "cert": {"type": "path"},
                       "hosts": {"type": "path"},
                       "restart_paths": {"type": "list", "elements": "path", "default": []},
                       "config_leftovers": {"type": "bool", "default": True}},
        mutually_exclusive=[["path", "paths"]],
        required_one_of=[["path", "paths"]],
        supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except MeshError as e:
        module.fail_json(msg=e.message, **e.details)
    except OSError as e:
        module.fail_json(msg="Failed to read the sidecar's package: %s" % e)


if __name__ == "__main__":
    main()
