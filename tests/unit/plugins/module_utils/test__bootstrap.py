# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bootstrap renderer against istioctl's own golden files, then behaviour tables.

The oracle is ``istioctl/pkg/workload/testdata`` of the pinned Istio module (tests/lab/versions.env,
ISTIO_MODULE_VERSION) in the Go module cache. The flags per case are those
``istioctl/pkg/workload/workload_test.go`` passes on its successful run (the second run, without
``--clusterID``, fails before writing). Without the module cache the golden tests FAIL; set
MESHOPS_ALLOW_NO_GOLDEN=1 to skip them instead.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshops.istio_vm.plugins.module_utils import _bootstrap
from ansible_collections.meshops.istio_vm.plugins.module_utils._bootstrap import BootstrapInputs
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

REPO_ROOT = Path(__file__).resolve().parents[4]
VERSIONS_ENV = REPO_ROOT / "tests" / "lab" / "versions.env"

# testdata dir -> (mesh ConfigMap "mesh" text or None to read meshconfig.yaml, flags of the run that wrote the goldens)
GOLDEN_CASES = {
    "vmconfig/ipv4": (None, {"internal_ip": "10.10.10.10", "ingress_ip": "10.10.10.11", "cluster_id": "Kubernetes",
                             "revision": "rev-1", "istio_namespace": "istio-system"}),
    "vmconfig/ipv6": (None, {"internal_ip": "fd00:10:96::1", "ingress_ip": "fd00:10:96::2", "cluster_id": "Kubernetes",
                             "revision": "rev-1", "istio_namespace": "istio-system"}),
    # TestWorkloadEntryConfigureNilProxyMetadata: ConfigMap "istio" holds "defaultConfig: {}", no revision, no ingress IP.
    "vmconfig-nil-proxy-metadata": ("defaultConfig: {}", {"internal_ip": "10.10.10.10", "cluster_id": "Kubernetes",
                                                          "istio_namespace": "istio-system"}),
}
RENDERED = ("cluster.env", "mesh.yaml", "hosts")


def _versions() -> dict:
    values = {}
    for line in VERSIONS_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = " ".join(shlex.split(value))
    return values


def _gomodcache() -> str:
    if os.environ.get("GOMODCACHE"):
        return os.environ["GOMODCACHE"]
    try:
        return subprocess.run(["go", "env", "GOMODCACHE"], check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@pytest.fixture(scope="module")
def testdata() -> Path:
    version = _versions().get("ISTIO_MODULE_VERSION", "")
    cache = _gomodcache()
    path = Path(cache, "istio.io", "istio@" + version, "istioctl", "pkg", "workload", "testdata")
    if version and cache and path.is_dir():
        return path
    message = ("istioctl golden files not found at %s (ISTIO_MODULE_VERSION=%r from %s, GOMODCACHE=%r): "
               "run the lab build first so the pinned istio.io/istio module is in the Go module cache"
               % (path, version, VERSIONS_ENV, cache))
    if os.environ.get("MESHOPS_ALLOW_NO_GOLDEN") == "1":
        pytest.skip(message)
    pytest.fail(message)


def _inputs(testdata: Path, case: str) -> BootstrapInputs:
    mesh_text, flags = GOLDEN_CASES[case]
    directory = testdata / case
    if mesh_text is None:
        mesh_text = (directory / "meshconfig.yaml").read_text()
    workload_group = yaml.safe_load((directory / "workloadgroup.yaml").read_text())
    return BootstrapInputs(workload_group=workload_group, mesh_config=yaml.safe_load(mesh_text), **flags)


def _env(text: str) -> dict:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_every_golden_case_has_flags(testdata):
    on_disk = {str(p.parent.relative_to(testdata)) for p in testdata.glob("**/workloadgroup.yaml")}
    assert on_disk == set(GOLDEN_CASES), "update GOLDEN_CASES from istioctl/pkg/workload/workload_test.go"


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_cluster_env_matches_golden(testdata, case):
    golden = (testdata / case / "cluster.env.golden").read_text()
    rendered = _bootstrap.cluster_env(_inputs(testdata, case))
    assert _env(rendered) == _env(golden)  # key by key first, for a readable failure
    assert rendered == golden


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_mesh_yaml_matches_golden(testdata, case):
    golden = (testdata / case / "mesh.yaml.golden").read_text()
    rendered = _bootstrap.mesh_yaml(_inputs(testdata, case))
    assert yaml.safe_load(rendered) == yaml.safe_load(golden)
    assert rendered == golden


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_hosts_matches_golden(testdata, case):
    golden = (testdata / case / "hosts.golden").read_text()
    assert _bootstrap.hosts(_inputs(testdata, case)) == golden


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_render_returns_all_files(testdata, case):
    files = _bootstrap.render(_inputs(testdata, case))
    assert sorted(files) == sorted(RENDERED)
    for name in RENDERED:
        assert files[name] == (testdata / case / (name + ".golden")).read_text()


# --- behaviour tables (no golden files needed) -----------------------------------------------------

def _group(template=None, spec_metadata=None, annotations=None, probe=None, name="vm-app", namespace="vms"):
    metadata = {"name": name, "namespace": namespace}
    if annotations is not None:
        metadata["annotations"] = annotations
    spec = {"template": template if template is not None else {"serviceAccount": "vm-sa"}}
    if spec_metadata is not None:
        spec["metadata"] = spec_metadata
    if probe is not None:
        spec["probe"] = probe
    return {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadGroup", "metadata": metadata, "spec": spec}


def _run(**overrides):
    fields = {"workload_group": _group(), "mesh_config": {}, "cluster_id": "c1"}
    fields.update(overrides)
    inputs = BootstrapInputs(**fields)
    return _env(_bootstrap.cluster_env(inputs)), _bootstrap.proxy_config(inputs)


ENV_CASES = [
    ("defaults", {}, {
        "CANONICAL_SERVICE": "'vm-app'", "CANONICAL_REVISION": "'latest'", "ISTIO_INBOUND_PORTS": "'*'",
        "ISTIO_LOCAL_EXCLUDE_PORTS": "'22,15090,15021,15020'", "ISTIO_META_DNS_CAPTURE": "'true'",
        "ISTIO_META_CLUSTER_ID": "'c1'", "SERVICE_ACCOUNT": "'vm-sa'", "ISTIO_SERVICE": "'vm-app.vms'",
        # as istioctl: istio-start.sh's default reaches istiod in istio-system
        "CA_ADDR": None}),
    ("external ip", {"external_ip": "203.0.113.7"},
     {"ISTIO_SVC_IP": "'203.0.113.7'", "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION": "'true'"}),
    ("autoregister", {"autoregister": True}, {"ISTIO_META_AUTO_REGISTER_GROUP": "'vm-app'"}),
    ("static entry", {"workload_entry": "vm-app-1"}, {"ISTIO_META_WORKLOAD_ENTRY": "'vm-app-1'"}),
    ("revision", {"revision": "canary", "istio_namespace": "istio-system"},
     {"CA_ADDR": "'istiod-canary.istio-system.svc:15012'"}),
    ("default revision is not a revision", {"revision": "default"}, {"ISTIO_INBOUND_PORTS": "'*'"}),
    # istio-start.sh would default CA_ADDR to istiod.istio-system.svc:15012, a name the VM cannot reach
    ("control plane in another namespace", {"istio_namespace": "istio-control"},
     {"CA_ADDR": "'istiod.istio-control.svc:15012'"}),
    ("another namespace and a revision", {"istio_namespace": "istio-control", "revision": "canary"},
     {"CA_ADDR": "'istiod-canary.istio-control.svc:15012'"}),
    ("another namespace keeps the mesh's CA_ADDR",
     {"istio_namespace": "istio-control",
      "mesh_config": {"defaultConfig": {"proxyMetadata": {"CA_ADDR": "ca.example:15012"}}}},
     {"CA_ADDR": "'ca.example:15012'"}),
    ("capture dns off keeps the mesh value",
     {"capture_dns": False,
      "mesh_config": {"defaultConfig": {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "false"}}}},
     {"ISTIO_META_DNS_CAPTURE": "'false'"}),
    ("status port", {"mesh_config": {"defaultConfig": {"statusPort": 15099}}}, {"ISTIO_LOCAL_EXCLUDE_PORTS": "'22,15090,15021,15099'"}),
    ("status port 15021", {"mesh_config": {"defaultConfig": {"status_port": 15021}}}, {"ISTIO_LOCAL_EXCLUDE_PORTS": "'22,15090,15021'"}),
    ("trust domain and mesh id", {"mesh_config": {"trustDomain": "corp.example", "defaultConfig": {"meshId": "m1"}}},
     {"TRUST_DOMAIN": "'corp.example'", "ISTIO_META_MESH_ID": "'m1'"}),
    ("ports", {"workload_group": _group(template={"ports": {"https": 8443, "http": 8080, "alt": 8080}})},
     {"ISTIO_INBOUND_PORTS": "'8080,8443'", "SERVICE_ACCOUNT": "'default'",
      "ISTIO_META_POD_PORTS": '\'[{"name":"alt","containerPort":8080,"protocol":""},'
                              '{"name":"http","containerPort":8080,"protocol":""},'
                              '{"name":"https","containerPort":8443,"protocol":""}]\''}),
    ("labels: template wins, canonical from app/version",
     {"workload_group": _group(template={"labels": {"version": "v2"}, "network": "net-1"},
                               spec_metadata={"labels": {"app": "shop", "version": "v1"}})},
     {"CANONICAL_SERVICE": "'shop'", "CANONICAL_REVISION": "'v2'", "ISTIO_META_NETWORK": "'net-1'",
      "ISTIO_METAJSON_LABELS": '\'{"app":"shop","service.istio.io/canonical-name":"shop",'
                               '"service.istio.io/canonical-revision":"v2","version":"v2"}\''}),
    ("annotation on object and spec, spec last",
     {"workload_group": _group(annotations={"proxy.istio.io/config": "proxyMetadata: {A: one, B: one}"},
                               spec_metadata={"annotations": {"proxy.istio.io/config": "proxyMetadata: {B: two}"}}),
      "mesh_config": {"defaultConfig": {"proxyMetadata": {"A": "mesh", "C": "mesh"}}}},
     {"A": "'one'", "B": "'two'", "C": "'mesh'"}),
    ("quoting", {"mesh_config": {"defaultConfig": {"proxyMetadata": {"Q": "it's", "W": "w@w", "E": ""}}}},
     {"Q": "'it'\"'\"'s'", "W": "w@w", "E": "''"}),
]


@pytest.mark.parametrize("description, overrides, expected", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_cluster_env_values(description, overrides, expected):
    env, _config = _run(**overrides)
    assert {key: env.get(key) for key in expected} == expected


def test_cluster_env_lines_are_sorted_as_whole_lines():
    text = _bootstrap.env_file({"X1": "a", "X": "b", "A_B": "c", "AB": "d"})
    assert text == "AB='d'\nA_B='c'\nX1='a'\nX='b'\n"


CONFIG_CASES = [
    ("revision sets discoveryAddress", {"revision": "rev-1"}, "discoveryAddress", "istiod-rev-1.istio-system.svc:15012"),
    ("explicit discoveryAddress kept", {"revision": "rev-1", "mesh_config": {"defaultConfig": {"discoveryAddress": "x:1"}}},
     "discoveryAddress", "x:1"),
    ("annotation overrides a field", {"workload_group": _group(annotations={"proxy.istio.io/config": "concurrency: 2"}),
                                      "mesh_config": {"defaultConfig": {"concurrency": 0}}}, "concurrency", 2),
    ("snake_case normalized", {"mesh_config": {"defaultConfig": {"drain_duration": "5s"}}}, "drainDuration", "5s"),
    ("probe replaces the mesh readinessProbe",
     {"workload_group": _group(probe={"tcpSocket": {"port": 22, "host": ""}, "periodSeconds": 0}),
      "mesh_config": {"defaultConfig": {"readinessProbe": {"exec": {"command": ["x"]}}}}},
     "readinessProbe", {"tcpSocket": {"port": 22}}),
    ("no probe drops the mesh readinessProbe",
     {"mesh_config": {"defaultConfig": {"readinessProbe": {"exec": {"command": ["x"]}}}}}, "readinessProbe", None),
]


@pytest.mark.parametrize("description, overrides, key, expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_proxy_config(description, overrides, key, expected):
    _env_values, config = _run(**overrides)
    assert config.get(key) == expected


ERROR_CASES = [
    ({"internal_ip": "10.0.0.1", "external_ip": "203.0.113.1"}, "internal_ip and external_ip are mutually exclusive"),
    ({"internal_ip": "vm.local"}, "internal_ip: 'vm.local' is not a valid IP address"),
    ({"autoregister": True, "workload_entry": "x"}, "autoregister and workload_entry are mutually exclusive"),
    ({"workload_group": {"metadata": {"name": "x"}}}, "needs metadata.name and metadata.namespace"),
    ({"mesh_config": {"defaultConfig": {"proxyMetadata": {"FLAG": True}}}},
     "mesh config defaultConfig.proxyMetadata.FLAG must be a string, got True"),
    ({"mesh_config": {"defaultConfig": "nope"}}, "defaultConfig must be a mapping"),
    ({"workload_group": _group(annotations={"proxy.istio.io/config": "a: [b"})}, "is not valid YAML"),
    ({"workload_group": _group(annotations={"proxy.istio.io/config": "- a"})}, "must be a YAML mapping"),
    ({"workload_group": _group(annotations={"proxy.istio.io/config": "proxyMetadata: {N: 1}"})},
     "proxyMetadata.N must be a string, got 1"),
]


def _meta_annotation(key, value="1"):
    return {"workload_group": _group(annotations={"proxy.istio.io/config": yaml.safe_dump(
        {"proxyMetadata": {key: value}})})}


# Keys become variables of cluster.env, which istio-start.sh sources as root.
KEY_ERROR_CASES = [
    (_meta_annotation("X=1; touch /tmp/pwned; Y"), "key 'X=1; touch /tmp/pwned; Y' is not an environment variable name"),
    (_meta_annotation("$(reboot)"), "is not an environment variable name"),
    (_meta_annotation("A B"), "is not an environment variable name"),
    (_meta_annotation("1ABC"), "is not an environment variable name"),
    (_meta_annotation(""), "is not an environment variable name"),
    (_meta_annotation("ÄPFEL"), "is not an environment variable name"),
    ({"mesh_config": {"defaultConfig": {"proxyMetadata": {"X\nY": "1"}}}}, "is not an environment variable name"),
    ({"mesh_config": {"defaultConfig": {"proxyMetadata": {5: "1"}}}}, "key 5 is not an environment variable name"),
    # Python's $ matches before a final newline: "reboot\n" would be a line of its own, run as root
    (_meta_annotation("reboot\n"), "key 'reboot\\n' is not an environment variable name"),
] + [(_meta_annotation(name), "%s changes how the sidecar or its start script runs" % name) for name in (
    "EXEC_USER", "ISTIO_INBOUND_INTERCEPTION_MODE", "ISTIO_AGENT_FLAGS", "ISTIO_BIN_BASE", "ISTIO_LOG_DIR",
    "ISTIO_CUSTOM_IP_TABLES", "POD_NAME", "PROXY_CONFIG", "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV",
    "ENV", "IFS", "BASH_FUNC_foo", "SUDO_ASKPASS")]


@pytest.mark.parametrize("overrides, message", KEY_ERROR_CASES)
def test_unsafe_proxy_metadata_keys_are_refused(overrides, message):
    with pytest.raises(MeshError) as info:
        _run(**overrides)
    assert message in str(info.value)


def test_a_refused_key_is_written_when_allowed_by_name_and_values_are_quoted():
    env, _config = _run(allow_env=("EXEC_USER",), **_meta_annotation("EXEC_USER", "istio-proxy"))
    assert env["EXEC_USER"] == "'istio-proxy'"
    with pytest.raises(MeshError, match="PATH changes how"):
        _run(allow_env=("EXEC_USER",), **_meta_annotation("PATH", "/tmp"))
    env, _config = _run(**_meta_annotation("GREETING", "$(touch /tmp/pwned); `id`; x'y"))
    assert env["GREETING"] == "'$(touch /tmp/pwned); `id`; x'\"'\"'y'"
    script = _bootstrap.cluster_env(BootstrapInputs(workload_group=_group(annotations={
        "proxy.istio.io/config": yaml.safe_dump({"proxyMetadata": {"GREETING": "$(touch /tmp/pwned)\n; id"}})}),
        mesh_config={}, cluster_id="c1"))
    shown = subprocess.run(["bash", "-c", "set -a; . /dev/stdin; printf %s \"$GREETING\""], input=script,
                           capture_output=True, text=True, check=True).stdout
    assert shown == "$(touch /tmp/pwned)\n; id"


@pytest.mark.parametrize("overrides, message", ERROR_CASES)
def test_bad_inputs_raise_mesh_error(overrides, message):
    with pytest.raises(MeshError) as info:
        _run(**overrides)
    assert message in str(info.value)


HOSTS_CASES = [
    ({"ingress_ip": "192.0.2.10"}, "192.0.2.10 istiod.istio-system.svc\n"),
    ({"ingress_ip": "192.0.2.10", "revision": "canary", "istio_namespace": "mesh"}, "192.0.2.10 istiod-canary.mesh.svc\n"),
    ({"ingress_ip": "gw.example.com"}, ""),
    ({"ingress_ip": None}, ""),
]


@pytest.mark.parametrize("overrides, expected", HOSTS_CASES)
def test_hosts(overrides, expected):
    inputs = BootstrapInputs(workload_group=_group(), mesh_config={}, cluster_id="c1", **overrides)
    assert _bootstrap.hosts(inputs) == expected
    assert bool(_bootstrap.missing_ingress_ip_warning(inputs)) == (expected == "")
    # the same line as data: what verify.yml compares with the VM's /etc/hosts
    entry = _bootstrap.hosts_entry(inputs)
    assert entry["name"] == _bootstrap.istiod_host(inputs.istio_namespace, inputs.revision)
    assert ("%s %s\n" % (entry["address"], entry["name"]) if entry["address"] else "") == expected


SERVICE_CASES = [
    ({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}, "spec": {"externalIPs": ["192.0.2.2"]}}, "192.0.2.1"),
    ({"status": {"loadBalancer": {}}, "spec": {"externalIPs": ["192.0.2.2"]}}, "192.0.2.2"),
    ({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}, None),
    ({}, None),
    (None, None),
]


@pytest.mark.parametrize("service, expected", SERVICE_CASES)
def test_ingress_ip_from_service(service, expected):
    assert _bootstrap.ingress_ip_from_service(service) == expected


INJECTOR_CASES = [
    ('{"global": {"multiCluster": {"clusterName": "east"}}}', "east"),
    ({"global": {"multiCluster": {"clusterName": "west"}}}, "west"),
    # the chart's default clusterName "" runs istiod and the injected pods as cluster "Kubernetes"
    ('{"global": {}}', "Kubernetes"),
    ('{"global": {"multiCluster": {"clusterName": ""}}}', "Kubernetes"),
    ({"global": {"multiCluster": {"enabled": False}}}, "Kubernetes"),
    # no values at all (no injector ConfigMap): unknown
    ("", ""),
    ({}, ""),
]


@pytest.mark.parametrize("values, expected", INJECTOR_CASES)
def test_cluster_id_from_injector_values(values, expected):
    assert _bootstrap.cluster_id_from_injector_values(values) == expected


def test_cluster_id_from_bad_injector_values():
    with pytest.raises(MeshError, match="cannot parse"):
        _bootstrap.cluster_id_from_injector_values('{"global": [')


@pytest.mark.parametrize("labels, expected", [
    ({}, ("wg", "latest")),
    ({"app": "a", "app.kubernetes.io/name": "b"}, ("b", "latest")),
    ({"service.istio.io/canonical-name": "c", "app": "a", "version": "v1"}, ("c", "v1")),
    ({"app.kubernetes.io/version": "2", "version": "1", "service.istio.io/canonical-revision": "3"}, ("wg", "3")),
])
def test_canonical_service(labels, expected):
    assert _bootstrap.canonical_service(labels, "wg") == expected


GATEWAY_PROBLEM_CASES = [
    (None, None, "Service istio-system/istio-eastwestgateway not found"),
    ({"status": {"loadBalancer": {}}}, None, "has no load-balancer address yet (status.loadBalancer.ingress is "
                                             "empty: the load balancer is pending) and no spec.externalIPs"),
    ({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}, "lb.example.com",
     "publishes the load-balancer hostname lb.example.com, not an IP (istio/istio#31624)"),
]


@pytest.mark.parametrize("service, hostname, expected", GATEWAY_PROBLEM_CASES)
def test_no_gateway_address(service, hostname, expected):
    assert _bootstrap.ingress_hostname_from_service(service) == hostname
    message = _bootstrap.no_gateway_address(service, "istio-system", "istio-eastwestgateway")
    assert expected in message
    assert "istio-system/istio-eastwestgateway" in message


def _source(script: str, *names: str) -> str:
    """cluster.env sourced the way istio-start.sh sources it (bash, set -a), then the variables."""
    shown = subprocess.run(["bash", "-c", "set -ea; . /dev/stdin; for n; do printf '%s=%s|' \"$n\" \"${!n-UNSET}\"; done",
                            "-", *names], input=script, capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and shown.stderr == "", shown
    return shown.stdout


def test_a_value_with_a_backslash_is_quoted_and_hides_no_other_variable():
    """istio's shellescape leaves a value of "safe" characters and backslashes bare: a backslash at
    the end of a line then joins the next line, and the variable on it is gone."""
    script = _bootstrap.cluster_env(BootstrapInputs(workload_group=_group(annotations={
        "proxy.istio.io/config": yaml.safe_dump({"proxyMetadata": {"ISTIO_LOCAL_EXCLUDE_PORTR": "\\",
                                                                   "A": "w\\w", "B": "\\\\"}})}),
        mesh_config={}, cluster_id="c1", internal_ip="10.0.0.5"))
    assert "ISTIO_LOCAL_EXCLUDE_PORTR='\\'" in script.splitlines()
    assert _source(script, "ISTIO_LOCAL_EXCLUDE_PORTR", "ISTIO_LOCAL_EXCLUDE_PORTS", "A", "B", "ISTIO_SVC_IP") == \
        "ISTIO_LOCAL_EXCLUDE_PORTR=\\|ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15020|A=w\\w|B=\\\\|ISTIO_SVC_IP=10.0.0.5|"


ZONE = "fe80::1%$(touch${IFS}pwned)"     # Python takes almost any zone, not "/"


@pytest.mark.parametrize("overrides, message", [
    # istio-start.sh runs `bash -c "INSTANCE_IP=${ISTIO_SVC_IP} ..."`: the value is shell code there
    (_meta_annotation("ISTIO_SVC_IP", "10.0.0.5;touch${IFS}/tmp/pwned;"),
     "proxyMetadata ISTIO_SVC_IP: '10.0.0.5;touch${IFS}/tmp/pwned;' is not a valid IP address"),
    (_meta_annotation("ISTIO_SVC_IP", ZONE), "proxyMetadata ISTIO_SVC_IP: %r has an IPv6 zone" % ZONE),
    ({"internal_ip": ZONE}, "internal_ip: %r has an IPv6 zone" % ZONE),
    ({"external_ip": ZONE}, "external_ip: %r has an IPv6 zone" % ZONE),
    ({"ingress_ip": "fe80::1%x\n10.6.6.6 kubernetes.default.svc"}, "ingress_ip: "),
    ({"ingress_ip": "gw.example.com"}, "ingress_ip: 'gw.example.com' is not a valid IP address"),
])
def test_addresses_that_reach_a_shell_or_hosts_are_plain_ips(overrides, message):
    inputs = BootstrapInputs(**dict({"workload_group": _group(), "mesh_config": {}, "cluster_id": "c1"}, **overrides))
    with pytest.raises(MeshError) as info:
        _bootstrap.check_inputs(inputs)
        _bootstrap.render(inputs)
    assert message in str(info.value)


def test_a_plain_istio_svc_ip_from_proxy_metadata_is_kept():
    env, _config = _run(**_meta_annotation("ISTIO_SVC_IP", "2001:db8::5"))
    assert env["ISTIO_SVC_IP"] == "'2001:db8::5'"


@pytest.mark.parametrize("answers, current, expected", [
    # the controller's resolver put the IPv6 answer first: the VM may have IPv4 only
    (["2001:db8::5", "192.0.2.9", "192.0.2.7"], None, "192.0.2.7"),
    # rotating answers, the bundle's address among them: kept (no rewrite, no restart)
    (["192.0.2.7", "192.0.2.9"], "192.0.2.9", "192.0.2.9"),
    (["192.0.2.9", "192.0.2.7"], "192.0.2.9", "192.0.2.9"),
    # the same address written another way is the same address
    (["2001:db8::5"], "2001:DB8:0::5", "2001:db8::5"),
    # the bundle's address is gone from DNS: the lowest of the new ones
    (["192.0.2.20", "192.0.2.11"], "192.0.2.9", "192.0.2.11"),
    # numeric, not text, order; IPv6 only when no IPv4
    (["192.0.2.100", "192.0.2.20"], None, "192.0.2.20"),
    (["2001:db8::10", "2001:db8::9"], "not an address", "2001:db8::9"),
    # a link-local answer with a zone is no address for /etc/hosts
    (["fe80::1%eth0"], None, None),
    ([], "192.0.2.9", None),
])
def test_gateway_address(answers, current, expected):
    assert _bootstrap.gateway_address(answers, current) == expected
