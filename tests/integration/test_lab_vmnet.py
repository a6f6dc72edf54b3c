# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab's VM network (`tests/lab/lab vmnet up`): a VM on it (mlab-vm102, 10.214.0.12)
reaches the east-west gateway and the package mirror, and nothing of the cluster side, not
even through the host; the gateway passes TLS to istiod, and istiod knows it as the gateway
of the cluster network; the VM network's own gateway (for callers on the cluster network) is
known too."""
from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from kubernetes import client

from conftest import fresh_vms
from meshlab import hosts

VM = 102


@pytest.fixture(scope="module", autouse=True)
def vm(lab, vmnet):
    fresh_vms(VM)
    yield VM


def drops(table_rule: str) -> int:
    """Packets counted by the lab's nftables rule that contains ``table_rule``."""
    out = subprocess.run(["nft", "list", "table", "inet", "meshlab_vmnet"], capture_output=True, text=True,
                         check=True).stdout
    line = next(line for line in out.splitlines() if table_rule in line and "counter" in line)
    return int(line.split("packets")[1].split()[0])


def connects(lab, host: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(('{host}', {port}), timeout=3).close()"
    return lab.ssh(VM, "python3", "-c", code, check=False).returncode == 0


def test_vm_lives_on_the_vm_network(lab, vmnet):
    assert lab.cfg.vm_ip(VM) == "10.214.0.12"
    routes = lab.ssh(VM, "ip", "-4", "route").stdout
    assert "10.214.0.0/24 dev host0" in routes
    assert "10.213.0" not in routes and "default" not in routes
    sha = lab.ssh(VM, "sh", "-c", f"curl -fsS {vmnet.pkg_url(lab.cfg)} | sha256sum").stdout.split()[0]
    assert sha == hosts.package_sha256(lab.cfg)


def test_cluster_side_unreachable_even_through_the_host(lab):
    assert not connects(lab, lab.cfg.host_ip, 15012)          # no route
    before = drops('iifname "mlab1" counter')
    lab.ssh(VM, "ip", "route", "add", "10.213.0.0/24", "via", "10.214.0.1")
    try:
        assert not connects(lab, lab.cfg.host_ip, 15012)      # the host's own service: input drop
        assert not connects(lab, "10.214.0.1", 6443)          # the API server on the host's mlab1 address
        assert not connects(lab, "10.213.0.5", 15021)         # the gateway's cluster leg: no forwarding
    finally:
        lab.ssh(VM, "ip", "route", "del", "10.213.0.0/24", "via", "10.214.0.1")
    assert drops('iifname "mlab1" counter') > before
    assert connects(lab, "10.214.0.5", 15012)


def test_gateway_passes_tls_to_istiod(lab, vmnet):
    """A TLS handshake from the VM to the gateway's 15012, verified against istiod's root with
    istiod's name: the gateway passes the connection through (PASSTHROUGH) to istiod."""
    name = "cluster.outbound|15012||istiod.istio-system.svc.cluster.local;.upstream_cx_total"
    before = vmnet.stats("cluster.outbound|15012||istiod").get(name, 0)
    from meshlab.control import istiod_root_cert
    lab.write(VM, "/root/istio-root.pem", istiod_root_cert(lab.cfg).encode())
    code = ("import socket, ssl; ctx = ssl.create_default_context(cafile='/root/istio-root.pem'); "
            "s = ctx.wrap_socket(socket.create_connection(('10.214.0.5', 15012), timeout=5), "
            "server_hostname='istiod.istio-system.svc'); print(s.version()); s.close()")
    assert lab.ssh(VM, "python3", "-c", code).stdout.strip().startswith("TLSv1.")
    assert vmnet.stats("cluster.outbound|15012||istiod")[name] > before


def test_istiod_knows_the_gateway(lab, api_client):
    svc = client.CoreV1Api(api_client).read_namespaced_service("istio-eastwestgateway", "istio-system")
    assert svc.metadata.labels["topology.istio.io/network"] == "meshlab-net"
    assert svc.status.load_balancer.ingress[0].ip == "10.214.0.5"
    with urllib.request.urlopen("http://127.0.0.1:15014/debug/networkz", timeout=5) as res:
        gateways = json.load(res)
    # the east-west gateway for the cluster network, and the VM network's own for the way back
    assert sorted((g["Network"], g["Addr"], g["Port"]) for g in gateways) == [
        ("meshlab-net", "10.214.0.5", 15443), ("vm-network", "10.213.0.6", 15443)]
    custom = client.CustomObjectsApi(api_client)
    names = {g["metadata"]["name"]: g["spec"]["servers"] for g in
             custom.list_namespaced_custom_object("networking.istio.io", "v1", "istio-system", "gateways")["items"]}
    assert names["cross-network-gateway"][0]["tls"]["mode"] == "AUTO_PASSTHROUGH"
    assert names["vm-network-gateway"][0]["tls"]["mode"] == "AUTO_PASSTHROUGH"
    assert [s["port"]["number"] for s in names["istiod-gateway"]] == [15012, 15017]


def test_lab_status_lists_the_gateway(lab):
    from conftest import LAB
    out = subprocess.run([str(LAB), "status"], capture_output=True, text=True, check=False).stdout
    for gateway in ("eastwestgateway", "vmnetgateway"):
        assert any(line.startswith(gateway) and "running pid" in line for line in out.splitlines()), out
    assert any(line.startswith("mlab-vm102") and "10.214.0.12:22" in line for line in out.splitlines())
