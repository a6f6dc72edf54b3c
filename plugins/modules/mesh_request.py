#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_request
short_description: Send one request from a mesh VM through its sidecar and report what the mesh did
version_added: 0.1.0
description:
  - Runs on an onboarded VM. Sends one HTTP request to a mesh name (a Kubernetes Service name
    or a ServiceEntry host) the way an application on the VM would, so that the request goes
    through the VM's own sidecar (DNS proxy, interception, mTLS), and reports the status code.
  - With O(peer_identity=true) it also reports the identity of the peer. It looks up the
    sidecar's outbound cluster for the URL's host and port in the Envoy admin API, connects to
    one of its endpoints over mTLS with the VM's workload certificate (as the sidecar's user,
    whose connections are not intercepted), and returns the SPIFFE IDs in the certificate the
    peer presented. It fails only on invalid options; an unreachable host is a result, not a
    failure, so that a verify play can report it.
  - The private key never leaves the VM; nothing is written.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  url:
    description:
      - C(http://) or C(https://) URL of a mesh host, for example
        C(http://details.bookinfo.com/) or C(http://ratings-vm.bookinfo.svc.cluster.local:8080/).
    type: str
    required: true
  headers:
    description:
      - Request headers.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds for the request and, separately, for the peer handshake.
    type: int
    default: 10
  peer_identity:
    description:
      - Also report the identity that the host's endpoints present (see the description).
    type: bool
    default: true
  admin_url:
    description:
      - The sidecar's Envoy admin API.
    type: str
    default: http://localhost:15000
  cert_dir:
    description:
      - Where the agent writes the workload certificate (C(cert-chain.pem), C(key.pem)) and the
        mesh root (C(root-cert.pem)); C(OUTPUT_CERTS) of the istio-sidecar package.
    type: path
    default: /etc/certs
  proxy_user:
    description:
      - The sidecar's user; the peer handshake runs as this user when the module runs as root.
    type: str
    default: istio-proxy
  body_limit:
    description:
      - How many bytes of the response body to return in RV(content).
    type: int
    default: 4096
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only (one GET and one TLS handshake); runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: Changes nothing; nothing to diff.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: Never reports a change.
seealso:
  - module: meshops.istio_vm.workload_service
"""

EXAMPLES = r"""
- name: Call the details service from a mesh VM and see who answered
  meshops.istio_vm.mesh_request:
    url: http://details.bookinfo.com/
  become: true
  register: call

- name: It answered over mTLS as the details workload
  ansible.builtin.assert:
    that:
      - call.status == 200
      - "'spiffe://cluster.local/ns/bookinfo/sa/details-legacy' in call.peer_identities"
"""

RETURN = r"""
status:
  description: HTTP status code of the response; null when no response came (see RV(error)).
  returned: always
  type: int
  sample: 200
error:
  description: Why no response came (DNS, connection refused, timeout); empty otherwise.
  returned: always
  type: str
  sample: ""
elapsed:
  description: Seconds the request took.
  returned: always
  type: float
content:
  description: The start of the response body (at most O(body_limit) bytes, decoded as UTF-8).
  returned: always
  type: str
cluster:
  description: The sidecar's outbound cluster for the URL's host and port; empty when it has none.
  returned: when O(peer_identity=true)
  type: str
  sample: outbound|80||details.bookinfo.com
endpoint:
  description: The endpoint the peer handshake went to.
  returned: when O(peer_identity=true)
  type: str
  sample: 10.213.0.14:9080
peer_identities:
  description: URI SANs (SPIFFE IDs) of the certificate that endpoint presented.
  returned: when O(peer_identity=true)
  type: list
  elements: str
  sample: [spiffe://cluster.local/ns/bookinfo/sa/details-legacy]
peer_identity_error:
  description: Why no peer identity could be read; empty otherwise.
  returned: when O(peer_identity=true)
  type: str
"""

import json
import os
import socket
import ssl
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._traffic import (
    istio_sni,
    outbound_cluster,
    parse_url,
    split_endpoint,
    uri_sans,
)


def _request(url, headers, timeout, limit):
    started = time.monotonic()
    try:
        resp = open_url(url, headers=headers, timeout=timeout, use_proxy=False, validate_certs=False)
        status, body = resp.getcode(), resp.read(limit)
        error = ""
    except Exception as exc:  # an HTTPError still carries the status; anything else is the error
        status = getattr(exc, "code", None)
        body = exc.read(limit) if status is not None and hasattr(exc, "read") else b""
        error = "" if status is not None else "%s: %s" % (type(exc).__name__, getattr(exc, "reason", exc))
    return {"status": status, "error": error, "elapsed": round(time.monotonic() - started, 4),
            "content": body.decode("utf-8", "replace")}


def _handshake(endpoint, sni, cert_dir, timeout):
    """mTLS to the endpoint with the workload certificate; the peer's URI SANs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False          # SPIFFE certificates carry URIs, not host names
    ctx.load_verify_locations(os.path.join(cert_dir, "root-cert.pem"))
    ctx.load_cert_chain(os.path.join(cert_dir, "cert-chain.pem"), os.path.join(cert_dir, "key.pem"))
    ctx.set_alpn_protocols(["istio"])
    host, port = split_endpoint(endpoint)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=sni) as tls:
            return uri_sans(tls.getpeercert())


def _as_user(user, fn, *args):
    """Run fn(*args) in a child process as ``user`` (connections of the sidecar's user are not
    intercepted); returns (value, error)."""
    if os.geteuid() != 0:
        try:
            return fn(*args), ""
        except Exception as exc:
            return None, "%s: %s" % (type(exc).__name__, exc)
    import pwd
    try:
        entry = pwd.getpwnam(user)
    except KeyError:   # a VM without the sidecar's user: a result to report, like an unreachable host
        return None, "no user %s on this VM (is the istio-sidecar package installed?)" % user
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to the user, do the handshake, report as JSON, exit
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            out = {"value": fn(*args), "error": ""}
        except Exception as exc:
            out = {"value": None, "error": "%s: %s" % (type(exc).__name__, exc)}
        os.write(write_end, json.dumps(out).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    try:
        out = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        out = {}
    return out.get("value"), out.get("error", "the handshake process reported nothing")


def _peer(params, host, port):
    result = {"cluster": "", "endpoint": "", "peer_identities": [], "peer_identity_error": ""}
    try:
        resp = open_url(params["admin_url"].rstrip("/") + "/clusters?format=json", timeout=params["timeout"],
                        use_proxy=False)
        clusters = json.loads(resp.read())
    except Exception as exc:
        result["peer_identity_error"] = "cannot read the sidecar's clusters at %s: %s" % (params["admin_url"], exc)
        return result
    found = outbound_cluster(clusters, host, port)
    if found is None or not found["endpoints"]:
        result["cluster"] = found["name"] if found else ""
        result["peer_identity_error"] = ("the sidecar has no endpoint for %s:%d (not a mesh host, or out of its "
                                         "Sidecar's egress scope)" % (host, port))
        return result
    fqdn = found["name"].split("|")[3]
    endpoint = found["endpoints"][0]
    ids, error = _as_user(params["proxy_user"], _handshake, endpoint, istio_sni(fqdn, port), params["cert_dir"],
                          params["timeout"])
    result.update(cluster=found["name"], endpoint=endpoint, peer_identities=ids or [], peer_identity_error=error)
    return result


def run(module):
    params = module.params
    _scheme, host, port = parse_url(params["url"])
    headers = {str(k): str(v) for k, v in (params["headers"] or {}).items()}
    result = {"changed": False}
    result.update(_request(params["url"], headers, params["timeout"], params["body_limit"]))
    if params["peer_identity"]:
        result.update(_peer(params, host, port))
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "headers": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 10},
            "peer_identity": {"type": "bool", "default": True},
            "admin_url": {"type": "str", "default": "http://localhost:15000"},
            "cert_dir": {"type": "path", "default": "/etc/certs"},
            "proxy_user": {"type": "str", "default": "istio-proxy"},
            "body_limit": {"type": "int", "default": 4096},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except MeshError as exc:
        module.fail_json(msg=exc.message)


if __name__ == "__main__":
    main()
