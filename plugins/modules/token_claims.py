#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: token_claims
short_description: Whose a service account token file is and how long it stays valid, never the token
version_added: 0.1.0
description:
  - Reads the claims of a service account token file (a JWT, such as a VM's C(istio-token)) where
    the module runs, on a VM or on the controller, and returns its issuer, its subject and the
    seconds it has left. The token itself and its signature are never returned.
  - With O(record), the token's record (C(istio-token.claims), the claims
    M(meshops.istio_vm.vm_bootstrap) writes next to the bundle's token) stands in when the token
    file holds no token, for example once the controller no longer keeps it.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  path:
    description:
      - The token file. A missing file, or one that is not a JWT with an C(exp) claim, holds no token.
    type: path
    required: true
  record:
    description:
      - The token's record, JSON with the claims C(iss), C(sub), C(aud) and C(exp).
    type: path
extends_documentation_fragment:
  - meshops.istio_vm.auth.info_attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - Delegated to the controller (connection C(local), no C(become)) it reads the files in Ansible's worker
        process; on a VM the module runs there.
seealso:
  - module: meshops.istio_vm.vm_bootstrap
"""

EXAMPLES = r"""
- name: Read the claims of the VM's token
  meshops.istio_vm.token_claims:
    path: /var/lib/istio/tokens/istio-token
  register: vm_token

- name: It is good for another half hour
  ansible.builtin.assert:
    that: vm_token.claims.left | default(0) > 1800

- name: The bundle's token on the controller, or its record once the token is gone
  meshops.istio_vm.token_claims:
    path: .bootstrap/vm1/istio-token
    record: .bootstrap/vm1/istio-token.claims
  delegate_to: localhost
"""

RETURN = r"""
claims:
  description:
    - C(iss) and C(sub) of the token (of the record when the token file holds none), and C(left),
      the seconds until it expires (negative once it has), and C(token), whether the token file holds a token.
    - Only C(token) (false) when neither the token file nor the record has claims.
  returned: always
  type: dict
  sample: {"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:bookinfo:ratings", "left": 3412,
           "token": true}
"""

import time

from ansible_collections.meshops.istio_vm.plugins.module_utils._files import read_text
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import status


def run(module):
    return {"changed": False, "claims": status(read_text(module.params["path"]), read_text(module.params["record"]), time.time())}


SPEC = ModuleSpec("token_claims", {"path": {"type": "path", "required": True}, "record": {"type": "path"}}, run,
                  needs_kubernetes=False)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()
