#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_bootstrap
short_description: Produce a VM's Istio bootstrap bundle, as istioctl x workload entry configure does
version_added: 0.1.0
description:
  - Writes, into O(dest) on the controller, the five files a VM sidecar needs
    (C(cluster.env), C(mesh.yaml), C(istio-token), C(root-cert.pem), C(hosts)) with the same
    content as C(istioctl x workload entry configure) for the same inputs, without istioctl.
  - Reads the WorkloadGroup, the C(istio[-REVISION]) mesh ConfigMap, the
    C(istio-sidecar-injector[-REVISION]) ConfigMap (cluster ID), the C(istio-ca-root-cert)
    ConfigMap of the group's namespace (waiting for istiod to publish it), and requests a
    service account token for audience C(istio-ca).
  - The token is never returned, logged or shown in a diff. It is written with mode C(0600);
    the other files with C(0640), in a directory of mode C(0700).
  - An existing token is kept while it is for the same service account and audience and stays
    valid for at least O(token_renew_before) seconds, so a second run changes nothing.
  - Beside the token, C(istio-token.claims) (mode C(0600)) records the issuer, subject, audience
    and expiry of the token last written or kept, never the token. Once the VM has the token, the
    caller may delete C(istio-token) from O(dest) (the C(meshops.istio_vm.mesh_workload) role does,
    unless C(mesh_workload_keep_token)). Without C(istio-token), a record that is still reusable by
    the rule above means the VM holds that token; the module then requests none and reports the
    token as C(delivered), without a change. Without either, or with a stale record, it requests
    a new token.
  - Directories the module creates for O(dest), O(dest) and its missing parents, get mode C(0700).
  - Every read and the token request come before the first file is written, and each file is
    replaced whole (a rename), so a run that fails, the API server gone for example, leaves the
    previous bundle as it was.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  workload_group:
    description:
      - Name of the WorkloadGroup the VM belongs to.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the WorkloadGroup (and of the VM's workload).
    type: str
    default: default
  dest:
    description:
      - Directory on the controller to write the files into. Created if missing.
    type: path
    required: true
  istio_namespace:
    description:
      - Namespace of the Istio control plane.
    type: str
    default: istio-system
  revision:
    description:
      - Istio revision the VM connects to; empty for the default revision.
    type: str
    default: ""
  cluster_id:
    description:
      - Cluster ID of the mesh. Default is C(values.global.multiCluster.clusterName) of the injector ConfigMap,
        and C(Kubernetes) when that is empty (istiod's default).
    type: str
  autoregister:
    description:
      - Let istiod create the VM's WorkloadEntry when the sidecar connects (C(ISTIO_META_AUTO_REGISTER_GROUP)).
    type: bool
    default: true
  workload_entry:
    description:
      - Static mode. Name of the VM's WorkloadEntry, so that its health checks are reported
        (C(ISTIO_META_WORKLOAD_ENTRY)). Requires O(autoregister=false).
    type: str
  capture_dns:
    description:
      - Let the sidecar answer the VM's DNS queries for mesh names (C(ISTIO_META_DNS_CAPTURE)).
    type: bool
    default: true
  internal_ip:
    description:
      - The VM's IP on the mesh network (C(ISTIO_SVC_IP)); used by auto-registration instead of the
        address istiod sees. Mutually exclusive with O(external_ip).
    type: str
  external_ip:
    description:
      - The VM's external IP (C(ISTIO_SVC_IP) and C(REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION)).
    type: str
  ingress_ip:
    description:
      - IP the VM uses to reach istiod (written to the C(hosts) file).
    type: str
  ingress_service:
    description:
      - Without O(ingress_ip), the gateway Service in O(istio_namespace) whose load-balancer IP
        (or hostname, resolved on the controller) or first external IP reaches istiod.
      - Of a hostname's addresses, the one the C(hosts) file in O(dest) has while the name still
        resolves to it, else the lowest IPv4 address, then the lowest IPv6 one.
    type: str
    default: istio-eastwestgateway
  token_duration:
    description:
      - Lifetime of a new token in seconds.
    type: int
    default: 3600
  token_renew_before:
    description:
      - Request a new token when the existing one has less than this many seconds left.
    type: int
    default: 1800
  rotate_token:
    description:
      - Always request a new token.
    type: bool
    default: false
  renew_delivered:
    description:
      - Request a new token when O(dest) holds none and its record says the token last handed out
        (now on the VM) has less than O(token_renew_before) seconds left.
      - V(false) reports such a token C(delivered) however long it has left, as long as it is for the
        same service account and audience, and requests none. For a caller that asks the VM next and
        requests a token (O(rotate_token)) only for a VM that needs one; istio-agent renews its
        certificate with the certificate itself, so a VM whose certificate lasts needs no new token.
        The C(meshops.istio_vm.mesh_workload) role does so inside C(playbooks/onboard.yml).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for istiod to publish C(istio-ca-root-cert) in O(namespace).
    type: int
    default: 60
  planned_workload_group:
    description:
      - Check mode only. The WorkloadGroup as this run's dry run of its apply returned it
        (RV(meshops.istio_vm.workload_group#module:result) in check mode), for a group the run would
        change before this task. The bundle is then rendered from it, not from the live group, so that a dry run
        reports the bundle the run would write. Its C(metadata.name) and C(metadata.namespace) must be
        O(workload_group) and O(namespace).
      - A ServiceAccount it names that does not exist yet gives a warning instead of the error, as
        the run would create it first (C(mesh_workload_create_identity)).
      - Outside check mode the module reads the live WorkloadGroup, which the run applied before, and
        fails when this option is given.
    type: dict
  service_account:
    description:
      - The service account the VM is meant to run as (from the inventory). When given, the module
        fails, before requesting any token, if the WorkloadGroup's C(template.serviceAccount)
        names another one. The token is only ever minted for the account the caller names, never
        for one read from a live object that someone else may have edited.
    type: str
  allow_proxy_metadata:
    description:
      - C(proxyMetadata) keys (from the mesh config or the WorkloadGroup's C(proxy.istio.io/config)
        annotation) that are refused by default and allowed here by name.
      - Every key becomes a variable in C(cluster.env), which C(istio-start.sh) sources as root. A key
        that is not an environment variable name is always refused. So are names that change how
        the shell or the sidecar starts (C(EXEC_USER), C(ISTIO_INBOUND_INTERCEPTION_MODE),
        C(ISTIO_BIN_BASE), C(ISTIO_LOG_DIR), C(ISTIO_AGENT_FLAGS), C(ISTIO_CUSTOM_IP_TABLES),
        C(PROXY_CONFIG), C(POD_NAME), C(PROV_CERT), C(OUTPUT_CERTS), C(PATH), C(HOME), C(IFS),
        C(BASH_ENV), C(ENV), C(LD_*), C(BASH_FUNC_*), C(SUDO_*) and other shell variables) unless
        listed here. Values are shell-quoted where the shell would read them otherwise, as istioctl
        does, and a value with a backslash always. A value of C(ISTIO_SVC_IP), which C(istio-start.sh)
        puts into a shell command, must be an IP address without an IPv6 zone.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the cluster and compares; requests no token and writes no file.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details:
      - One diff per file that changes, under its path, as M(ansible.builtin.copy) shows them - C(cluster.env),
        C(mesh.yaml), C(hosts), C(root-cert.pem) and the token record; the token only as renewed, never its value.
      - A change of a file's mode alone shows no lines.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: The token is kept (or, once delivered, left to the VM) while valid for at least O(token_renew_before) seconds;
      with O(renew_delivered=false), a delivered token of the same identity is left to the VM however long it has left.
seealso:
  - module: meshops.istio_vm.workload_group
"""

EXAMPLES = r"""
- name: Bootstrap bundle of one ratings VM (auto-registration)
  meshops.istio_vm.vm_bootstrap:
    workload_group: ratings-vm
    namespace: ratings
    ingress_ip: 10.0.0.40
    internal_ip: "{{ ansible_host }}"
    dest: "{{ playbook_dir }}/.bootstrap/{{ inventory_hostname }}"
  delegate_to: localhost

- name: Static WorkloadEntry with health checks
  meshops.istio_vm.vm_bootstrap:
    workload_group: details
    namespace: bookinfo
    autoregister: false
    workload_entry: details-legacy
    dest: /srv/bootstrap/details-legacy
"""

RETURN = r"""
files:
  description:
    - The files written (or that would be), by name, with C(path), C(mode) and C(sha256) (none for the
      token and its record C(istio-token.claims)).
    - No C(istio-token) when the token is C(delivered) (the controller holds none).
  returned: always
  type: dict
  sample: {"cluster.env": {"path": "/srv/bootstrap/vm1/cluster.env", "mode": "0640", "sha256": "3f5a..."}}
cluster_env:
  description: The C(cluster.env) values.
  returned: always
  type: dict
  sample: {"ISTIO_NAMESPACE": "ratings", "SERVICE_ACCOUNT": "ratings-vm"}
token:
  description:
    - What happened to the token (never its value), and its expiry (none for a token that check mode
      would request).
    - C(renewed) a new token was requested (or would be, in check mode); C(kept) the token in O(dest)
      is still good; C(delivered) O(dest) holds no token, and its record says the token last handed
      out (now on the VM) is still good (with O(renew_delivered=false), that it is for the same
      service account and audience).
  returned: always
  type: dict
  sample: {"action": "kept", "expires": "2026-11-26T10:00:00Z"}
root_cert_sha256:
  description: SHA-256 of the mesh root certificate written to C(root-cert.pem).
  returned: always
  type: str
root_certificates:
  description:
    - The mesh's root certificates, the PEM text written to C(root-cert.pem) (public certificates). A VM's
      workload certificate that none of them issued is of a root the mesh no longer has (C(playbooks/verify.yml)
      reports it).
  returned: always
  type: str
  version_added: 0.2.0
hosts_entry:
  description:
    - The line of C(hosts) as data, the name-to-address mapping the VM's C(/etc/hosts) must hold
      (C(playbooks/verify.yml) compares it with the VM's, so a VM whose entry still names an old
      gateway address is drift).
    - C(address) is null when C(hosts) is empty (no ingress IP known); the VM then resolves istiod's
      name by DNS.
  returned: always
  type: dict
  version_added: 0.2.0
  contains:
    name:
      description: istiod's name, C(istiod[-REVISION].ISTIO_NAMESPACE.svc).
      type: str
    address:
      description: The address of O(ingress_ip) or of the O(ingress_service)'s load balancer.
      type: str
  sample: {"name": "istiod.istio-system.svc", "address": "10.214.0.5"}
workload_group_applied:
  description:
    - What this collection's field manager owns of the WorkloadGroup the bundle was rendered from, as an
      apply would state it; null when the collection never applied that group. C(playbooks/verify.yml)
      compares it with the inventory (the bundle follows the live group, so a group that the inventory
      changed since the last onboard is drift).
    - With O(planned_workload_group) (check mode), that object as given, without server-owned metadata,
      so the group as the run would leave it, all fields.
  returned: always
  type: dict
  version_added: 0.2.0
planned_bundle:
  description:
    - Check mode only. The text of each file of the bundle the run would write to O(dest), by name
      (C(cluster.env), C(mesh.yaml), C(root-cert.pem), C(hosts)); never the token or its record.
    - A dry run writes nothing to O(dest), so what the VM would get is here. The
      C(meshops.istio_vm.vm_sidecar) role compares the VM with it (C(vm_sidecar_planned_bundle)), so that
      the dry run shows the files and the restart the run would make.
  returned: in check mode (also in a task with C(check_mode=true))
  type: dict
  version_added: 0.2.0
  sample: {"cluster.env": "CANONICAL_REVISION='latest'\n...", "hosts": "10.214.0.5 istiod.istio-system.svc\n"}
"""

import hashlib
import os
import socket
import tempfile
import time

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC, auth_params
from ansible_collections.meshops.istio_vm.plugins.module_utils._bootstrap import (
    BootstrapInputs,
    check_inputs,
    cluster_env_values,
    hosts_entry,
    cluster_id_from_injector_values,
    gateway_address,
    ingress_hostname_from_service,
    ingress_ip_from_service,
    istiod_host,
    missing_ingress_ip_warning,
    no_gateway_address,
    render,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._drift import first_mapping
from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import file_diff, normalize
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import managed_view
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import (
    DELIVERED,
    KEPT,
    RENEWED,
    claims,
    parse_record,
    record_text,
    token_action,
)

try:
    import yaml
except ImportError:
    yaml = None

AUDIENCE = "istio-ca"
TOKEN = "istio-token"
RECORD = "istio-token.claims"  # the non-secret record of the token (claims only)
MODES = {TOKEN: 0o600}
DEFAULT_MODE = 0o640


def _suffix(revision):
    return "-" + revision if revision and revision != "default" else ""


def _read_mesh_config(client, params):
    name = "istio" + _suffix(params["revision"])
    data = client.config_map(params["istio_namespace"], name)
    if data is None:
        raise MeshError("Istio mesh ConfigMap %s/%s not found: is Istio (revision %r) installed?"
                        % (params["istio_namespace"], name, params["revision"] or "default"))
    try:
        return yaml.safe_load(data.get("mesh") or "") or {}
    except yaml.YAMLError as exc:
        raise MeshError("Cannot parse the mesh config in ConfigMap %s/%s: %s" % (params["istio_namespace"], name, exc))


def _cluster_id(client, params):
    if params["cluster_id"]:
        return params["cluster_id"]
    name = "istio-sidecar-injector" + _suffix(params["revision"])
    data = client.config_map(params["istio_namespace"], name) or {}
    found = cluster_id_from_injector_values(data.get("values") or "")
    if not found:
        raise MeshError("No cluster ID: set cluster_id, or values.global.multiCluster.clusterName in "
                        "ConfigMap %s/%s" % (params["istio_namespace"], name))
    return found


def _ingress_ip(client, params):
    """The address the VMs reach istiod at; without one the bundle could not work (an empty hosts
    file), so the VM would never join: fail here, naming the gateway Service, before any VM change."""
    if params["ingress_ip"]:
        return params["ingress_ip"]
    ns, name = params["istio_namespace"], params["ingress_service"]
    svc = client.service(ns, name)
    ip = ingress_ip_from_service(svc)
    if ip:
        return ip
    hostname = ingress_hostname_from_service(svc)
    if hostname:   # istioctl leaves the hosts file empty here (istio/istio#31624); resolve it instead
        try:
            answers = [info[4][0] for info in socket.getaddrinfo(hostname, 15012, type=socket.SOCK_STREAM)]
        except OSError as exc:
            raise MeshError("%s; it does not resolve on the controller either: %s"
                            % (no_gateway_address(svc, ns, name), exc)) from exc
        found = gateway_address(answers, _bundle_address(params))
        if found is None:
            raise MeshError("%s; the controller resolves it to no address a VM can use: %s"
                            % (no_gateway_address(svc, ns, name), ", ".join(answers)))
        return found
    raise MeshError(no_gateway_address(svc, ns, name))


def _bundle_address(params):
    """The address the bundle's hosts file in O(dest) gives istiod now, or None."""
    text = _read(os.path.join(params["dest"], "hosts"))
    found = first_mapping(text.decode(errors="replace"), istiod_host(params["istio_namespace"], params["revision"])) \
        if text is not None else None
    return found[1] if found else None


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _write(path, content, mode):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _sha(content):
    return hashlib.sha256(content).hexdigest()


def _stale_mode(path, content, mode):
    """Whether an existing file (``content`` not None) has another mode than ``mode``."""
    return content is not None and (os.stat(path).st_mode & 0o7777) != mode


def _make_dirs(path):
    """Create ``path`` and its missing parents, each with mode 0700; existing parents stay as they are."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)   # mkdir's mode is filtered by the umask
    if missing:
        return
    os.chmod(path, 0o700)


def _expiry(token_claims):
    exp = token_claims.get("exp")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)) if isinstance(exp, (int, float)) else None


def check_planned(planned, namespace, name, check):
    """planned_workload_group: only in check mode, and only the group the task names."""
    if not check:
        raise MeshError("planned_workload_group is for check mode only: a run reads the WorkloadGroup it applied")
    meta = planned.get("metadata") if isinstance(planned.get("metadata"), dict) else {}
    if (planned.get("kind"), meta.get("namespace"), meta.get("name")) != ("WorkloadGroup", namespace, name):
        raise MeshError("planned_workload_group is %s %s/%s, not WorkloadGroup %s/%s"
                        % (planned.get("kind"), meta.get("namespace"), meta.get("name"), namespace, name))


def run(module):
    params, check = module.params, module.check_mode
    client = _client.MeshClient.from_params(auth_params(params))
    ns, group_name = params["namespace"], params["workload_group"]
    planned = params["planned_workload_group"]
    if planned is not None:
        check_planned(planned, ns, group_name, check)
    group = planned if planned is not None else client.get("WorkloadGroup", ns, group_name)
    if group is None:
        raise MeshError("WorkloadGroup %s/%s not found: create it first (meshops.istio_vm.workload_group)"
                        % (ns, group_name))
    sa = (group.get("spec", {}).get("template") or {}).get("serviceAccount") or "default"
    if params["service_account"] is not None and params["service_account"] != sa:
        raise MeshError("WorkloadGroup %s/%s runs its VMs as ServiceAccount %r, the caller expects %r: no token is "
                        "requested for an account the caller did not name (apply the WorkloadGroup again, or fix "
                        "the inventory)" % (ns, group_name, sa, params["service_account"]))
    warnings = []
    if not client.service_account_exists(ns, sa):
        if planned is None:
            raise MeshError("ServiceAccount %s/%s (the WorkloadGroup's template.serviceAccount) not found: create it "
                            "first" % (ns, sa))
        warnings.append("ServiceAccount %s/%s (the planned WorkloadGroup's template.serviceAccount) does not exist "
                        "yet: a run must create it before this task (meshops.istio_vm.service_account), or this "
                        "task fails there" % (ns, sa))
    inputs = BootstrapInputs(
        workload_group=group, mesh_config=_read_mesh_config(client, params), cluster_id=_cluster_id(client, params),
        revision=params["revision"], istio_namespace=params["istio_namespace"],
        autoregister=params["autoregister"], capture_dns=params["capture_dns"],
        internal_ip=params["internal_ip"], external_ip=params["external_ip"],
        ingress_ip=_ingress_ip(client, params), workload_entry=params["workload_entry"],
        allow_env=tuple(params["allow_proxy_metadata"]))
    check_inputs(inputs)
    warnings += missing_ingress_ip_warning(inputs)
    root = _client.wait_until("ConfigMap %s/istio-ca-root-cert (istiod publishes it in each namespace)" % ns,
                              lambda: (client.config_map(ns, "istio-ca-root-cert") or {}).get("root-cert.pem"),
                              params["wait_timeout"])
    rendered = {name: text.encode() for name, text in render(inputs).items()}
    rendered["root-cert.pem"] = root.encode()

    dest = params["dest"]
    token_path, record_path = os.path.join(dest, TOKEN), os.path.join(dest, RECORD)
    old_token, old_record = _read(token_path), _read(record_path)
    held = (claims(old_token.decode(errors="replace")) or {}) if old_token is not None else None
    recorded = parse_record(old_record.decode(errors="replace")) if old_record is not None else None
    action = token_action(held, recorded, params["rotate_token"], ns, sa, AUDIENCE, time.time(),
                          params["token_renew_before"], params["renew_delivered"])
    diff, files, changed = [], {}, False
    for name, content in sorted(rendered.items()):
        path = os.path.join(dest, name)
        old = _read(path)
        mode = MODES.get(name, DEFAULT_MODE)
        if old != content or _stale_mode(path, old, mode):
            changed = True
            diff.append(file_diff(path, old.decode(errors="replace") if old is not None else "", content.decode()))
        files[name] = {"path": path, "mode": "%04o" % mode, "sha256": _sha(content)}
    new_record = None
    if action == KEPT:
        new_record = record_text(held).encode()
        changed = changed or _stale_mode(token_path, old_token, 0o600)
    elif action == DELIVERED:
        changed = changed or _stale_mode(record_path, old_record, 0o600)
    else:
        changed = True
        diff.append(file_diff(token_path, "(token)\n" if old_token is not None else "", "(new token)\n"))
    if new_record is not None and (new_record != old_record or _stale_mode(record_path, old_record, 0o600)):
        changed = True
        diff.append(file_diff(record_path, old_record.decode(errors="replace") if old_record is not None else "",
                              new_record.decode()))
    token_info = {"action": action, "expires": _expiry((held if action == KEPT else recorded) or {})
                  if action != RENEWED else None}
    if action != DELIVERED:
        files[TOKEN] = {"path": token_path, "mode": "0600"}
    files[RECORD] = {"path": record_path, "mode": "0600"}
    if changed and not check:
        # The token is the last answer from the API server: request it before any file is
        # written, so that a cluster gone mid-run leaves the old bundle as it was. Each file
        # is then replaced whole (a rename), never left half-written.
        token = client.create_token(ns, sa, [AUDIENCE], params["token_duration"]) if action == RENEWED else None
        try:
            _make_dirs(dest)
            for name, content in rendered.items():
                _write(os.path.join(dest, name), content, MODES.get(name, DEFAULT_MODE))
            if action == KEPT:
                os.chmod(token_path, 0o600)
            elif action == DELIVERED:
                os.chmod(record_path, 0o600)
            else:
                _write(token_path, token["token"].encode(), 0o600)
                new_record = record_text(claims(token["token"])).encode()
                token_info["expires"] = token["expiration"]
                del token
            if new_record is not None:
                _write(record_path, new_record, 0o600)
        except OSError as exc:
            raise MeshError("Cannot write the bootstrap files to %s: %s" % (dest, exc)) from exc
    for warning in warnings:
        module.warn(warning)
    result = {"changed": changed, "files": files, "cluster_env": cluster_env_values(inputs), "token": token_info,
              "root_cert_sha256": _sha(rendered["root-cert.pem"]),
              "root_certificates": rendered["root-cert.pem"].decode("ascii", "replace"),
              "hosts_entry": hosts_entry(inputs),
              "workload_group_applied": managed_view(group) if planned is None else normalize(planned),
              "diff": diff}
    if check:
        result["planned_bundle"] = {name: content.decode() for name, content in rendered.items()}
    return result


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(
    workload_group={"type": "str", "required": True},
    namespace={"type": "str", "default": "default"},
    dest={"type": "path", "required": True},
    istio_namespace={"type": "str", "default": "istio-system"},
    revision={"type": "str", "default": ""},
    cluster_id={"type": "str"},
    autoregister={"type": "bool", "default": True},
    workload_entry={"type": "str"},
    capture_dns={"type": "bool", "default": True},
    internal_ip={"type": "str"},
    external_ip={"type": "str"},
    ingress_ip={"type": "str"},
    ingress_service={"type": "str", "default": "istio-eastwestgateway"},
    token_duration={"type": "int", "default": 3600, "no_log": False},
    token_renew_before={"type": "int", "default": 1800, "no_log": False},
    rotate_token={"type": "bool", "default": False},
    renew_delivered={"type": "bool", "default": True},
    wait_timeout={"type": "int", "default": 60},
    service_account={"type": "str"},
    planned_workload_group={"type": "dict"},
    allow_proxy_metadata={"type": "list", "elements": "str", "default": []},
)
SPEC = ModuleSpec("vm_bootstrap", ARGUMENT_SPEC, run, mutually_exclusive=[("internal_ip", "external_ip")],
                  libraries=(("PyYAML", yaml is not None),))


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()
