# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab's VM network and its east-west gateway (opt-in: `tests/lab/lab vmnet up|down|status`).

- A second bridge (mlab1, 10.214.0.0/24) for "VM network" VMs: VM 100+k boots there at
  10.214.0.(10+k). The host keeps an address on it (SSH to the VMs, and a package mirror on
  10.214.0.1:8099), but an nftables table of the lab (`inet meshlab_vmnet`, rules on lab
  interfaces only) drops anything the VM network starts towards the host other than the
  package mirror, and anything crossing between mlab1 and another interface. So the only way
  from a VM of the VM network to the cluster side is the gateway.
- The east-west gateway: Istio's `pilot-agent proxy router` (sni-dnat, as Istio's
  gen-eastwest-gateway.sh configures it) with the lab's Envoy, in a network namespace with a
  leg on each bridge (10.213.0.5 and 10.214.0.5). Its Service `istio-eastwestgateway`
  (istio-system) carries `topology.istio.io/network: meshlab-net`, which tells istiod that
  this network's gateway is the Service's load-balancer address; the lab sets that address
  (status.loadBalancer.ingress[0].ip = 10.214.0.5) as a cloud controller would. The Gateway
  and VirtualService objects are those of Istio's samples/multicluster/expose-istiod.yaml and
  expose-services.yaml. istiod itself gets a Service `istiod` whose endpoint is the host.
- The VM network's own gateway, the way back: a second `pilot-agent proxy router` of network
  `vm-network` in its own netns (10.213.0.6 on mlab0, 10.214.0.6 on mlab1), Service
  `istio-vmnetgateway` labelled `topology.istio.io/network: vm-network` with load-balancer
  address 10.213.0.6 (reachable from the cluster network) and an AUTO_PASSTHROUGH Gateway on its
  15443. istiod then sends cluster-side callers of a VM-network workload to it, as Istio does for
  any network with a gateway (without one, it would hand them the VM's own address, which the
  cluster network cannot reach).

Nothing here changes `lab up`: the other tests never see mlab1, and the cluster objects exist
only while the VM network is up.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from .control import CLUSTER_ID, ISTIO_NS, MESH_ID, NETWORK, TRUST_DOMAIN, istio_binary, kube_client
from .core import Config, LabError, Proc, ensure_ports_free, need_tools, run, say, tcp_open, wait_for

BRIDGE = "mlab1"
HOST_IP = "10.214.0.1"
PREFIX = 24
SUBNET = "10.214.0.0/24"
DNS_IP = "10.214.0.53"            # unanswered, as 10.213.0.53 on mlab0 (the agent's DNS proxy captures)
FIRST_VM = 101                    # VM 100+k lives on the VM network at 10.214.0.(10+k)
NETNS = "mlab-ewgw"
GW_CLUSTER_IP = "10.213.0.5"      # the gateway's leg on the cluster network (mlab0)
GW_VMNET_IP = "10.214.0.5"        # its leg on the VM network: the load-balancer address
NFT_TABLE = "meshlab_vmnet"
GW_NAME = "istio-eastwestgateway"
GW_LABELS = {"istio": "eastwestgateway", "app": GW_NAME, "topology.istio.io/network": NETWORK}
GW_PORTS = {"status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017}
VM_NETWORK = "vm-network"         # the network name the example inventory gives its VMs


@dataclass(frozen=True)
class Gateway:
    """One `pilot-agent proxy router` of the lab: its process name, netns, Service, network and legs."""
    proc: str
    netns: str
    name: str                 # its Service and ServiceAccount in istio-system
    labels: dict
    network: str
    legs: tuple               # (host-side veth, netns-side veth, bridge, address)
    lb_ip: str                # the Service's load-balancer address, as other networks reach it
    instance_ip: str
    ports: dict


EASTWEST = Gateway("eastwestgateway", NETNS, GW_NAME, GW_LABELS, NETWORK,
                   (("vg-ewgw0", "eth0", "mlab0", GW_CLUSTER_IP), ("vg-ewgw1", "eth1", BRIDGE, GW_VMNET_IP)),
                   GW_VMNET_IP, GW_CLUSTER_IP, GW_PORTS)
VMNET_GW = Gateway("vmnetgateway", "mlab-vmgw", "istio-vmnetgateway",
                   {"istio": "vmnetgateway", "app": "istio-vmnetgateway", "topology.istio.io/network": VM_NETWORK},
                   VM_NETWORK,
                   (("vg-vmgw0", "eth0", "mlab0", "10.213.0.6"), ("vg-vmgw1", "eth1", BRIDGE, "10.214.0.6")),
                   "10.213.0.6", "10.214.0.6", {"status-port": 15021, "tls": 15443})
GATEWAYS = (EASTWEST, VMNET_GW)


def on_vmnet(n: int) -> bool:
    return n >= FIRST_VM


def pkg_url(cfg: Config) -> str:
    return f"http://{HOST_IP}:{cfg.pkg_port}/istio-sidecar.deb"


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def _netns_exists(netns: str = NETNS) -> bool:
    return Path(f"/run/netns/{netns}").exists()


def is_up(cfg: Config) -> bool:
    return (cfg.state / "vmnet.json").exists() and BRIDGE in _links()


# -- network ------------------------------------------------------------------------------

NFT_RULES = f"""table inet {NFT_TABLE} {{
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{BRIDGE}" ct state established,related accept
    iifname "{BRIDGE}" ip daddr {HOST_IP} tcp dport {{port}} accept
    iifname "{BRIDGE}" counter drop
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{BRIDGE}" oifname != "{BRIDGE}" counter drop
    oifname "{BRIDGE}" iifname != "{BRIDGE}" counter drop
  }}
}}
"""


def network(cfg: Config) -> None:
    step = "vmnet"
    need_tools(step, ["ip", "nft"], "apt-get install iproute2 nftables")
    marker = cfg.state / "vmnet.json"
    links = _links()
    if BRIDGE in links and not marker.exists():
        raise LabError(step, f"a link named {BRIDGE} exists that this lab did not create",
                       f"remove it (ip link del {BRIDGE}) if it is a leftover, then retry")
    marker.write_text(json.dumps({"bridge": BRIDGE, "netns": [gw.netns for gw in GATEWAYS], "nft_table": NFT_TABLE}))
    if BRIDGE not in links:
        run(step, ["ip", "link", "add", BRIDGE, "type", "bridge"])
    addrs = subprocess.run(["ip", "-o", "addr", "show", "dev", BRIDGE], capture_output=True, text=True,
                           check=False).stdout
    if f" {HOST_IP}/" not in addrs:
        run(step, ["ip", "addr", "add", f"{HOST_IP}/{PREFIX}", "dev", BRIDGE])
    run(step, ["ip", "link", "set", BRIDGE, "up"])
    # The table is replaced as a whole (one nft transaction), so a re-run leaves one copy.
    rules = NFT_RULES.replace("{port}", str(cfg.pkg_port))
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True, check=False)
    res = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise LabError(step, f"nft -f: {res.stderr.strip()}")
    for gw in GATEWAYS:
        _gateway_netns(step, gw)


def _gateway_netns(step: str, gw: Gateway) -> None:
    if not _netns_exists(gw.netns):
        run(step, ["ip", "netns", "add", gw.netns])
    inside = ["ip", "netns", "exec", gw.netns]
    run(step, inside + ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
    run(step, inside + ["ip", "link", "set", "lo", "up"])
    for host_side, ns_side, bridge, addr in gw.legs:
        if host_side not in _links():
            run(step, ["ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side,
                       "netns", gw.netns])
            run(step, ["ip", "link", "set", host_side, "master", bridge, "up"])
            run(step, inside + ["ip", "addr", "add", f"{addr}/24", "dev", ns_side])
            run(step, inside + ["ip", "link", "set", ns_side, "up"])


def serve_mirror(cfg: Config) -> None:
    """The package server's files on the VM network's host address (a site's own mirror)."""
    proc = Proc(cfg, "pkg-server-vmnet")
    if proc.running():
        return
    www = cfg.state / "www"
    if not (www / "istio-sidecar.deb").exists():
        raise LabError("vmnet", f"{www} has no package", "run 'tests/lab/lab up' first")
    ensure_ports_free("vmnet", [(HOST_IP, cfg.pkg_port)])
    proc.start([sys.executable, "-m", "http.server", str(cfg.pkg_port), "--bind", HOST_IP,
                "--directory", str(www)])
    wait_for("vmnet", "VM network package mirror answering", lambda: tcp_open(HOST_IP, cfg.pkg_port), 20,
             on_timeout=proc.log_tail)


# -- cluster objects ----------------------------------------------------------------------

def _service(name: str, labels: dict, ports: dict, *, lb: bool, selector: dict | None) -> dict:
    spec: dict = {"ports": [{"name": k, "port": (443 if k == "https-webhook" else v), "targetPort": v,
                             "protocol": "TCP"} for k, v in ports.items()]}
    if lb:
        spec["type"] = "LoadBalancer"
    if selector:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ISTIO_NS, "labels": labels}, "spec": spec}


def gateway_objects() -> list[dict]:
    """What an install of the east-west gateway and Istio's multicluster samples create, and the
    VM network's gateway (its Service, and the AUTO_PASSTHROUGH Gateway of its 15443)."""
    ns = {"namespace": ISTIO_NS}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": GW_NAME, **ns}},
        _service(GW_NAME, GW_LABELS, GW_PORTS, lb=True, selector={"istio": "eastwestgateway"}),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": VMNET_GW.name, **ns}},
        _service(VMNET_GW.name, VMNET_GW.labels, VMNET_GW.ports, lb=True,
                 selector={"istio": VMNET_GW.labels["istio"]}),
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "vm-network-gateway", **ns},
         "spec": {"selector": {"istio": VMNET_GW.labels["istio"]}, "servers": [
             {"port": {"number": 15443, "name": "tls", "protocol": "TLS"},
              "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}]}},
        # istiod runs on the lab host: its Service has no selector and one endpoint, the host.
        _service("istiod", {"app": "istiod", "istio": "pilot"}, {"tls-istiod": 15012, "https-webhook": 15017},
                 lb=False, selector=None),
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "istiod-meshlab", **ns, "labels": {"kubernetes.io/service-name": "istiod"}},
         "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.213.0.1"], "conditions": {"ready": True}}],
         "ports": [{"name": "tls-istiod", "port": 15012, "protocol": "TCP"},
                   {"name": "https-webhook", "port": 15017, "protocol": "TCP"}]},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "istiod-gateway", **ns},
         "spec": {"selector": {"istio": "eastwestgateway"}, "servers": [
             {"port": {"name": "tls-istiod", "number": 15012, "protocol": "tls"},
              "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]},
             {"port": {"name": "tls-istiodwebhook", "number": 15017, "protocol": "tls"},
              "tls": {"mode": "PASSTHROUGH"}, "hosts": ["*"]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "istiod-vs", **ns},
         "spec": {"hosts": ["*"], "gateways": ["istiod-gateway"], "tls": [
             {"match": [{"port": 15012, "sniHosts": ["*"]}],
              "route": [{"destination": {"host": f"istiod.{ISTIO_NS}.svc.cluster.local",
                                         "port": {"number": 15012}}}]},
             {"match": [{"port": 15017, "sniHosts": ["*"]}],
              "route": [{"destination": {"host": f"istiod.{ISTIO_NS}.svc.cluster.local",
                                         "port": {"number": 443}}}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "cross-network-gateway", **ns},
         "spec": {"selector": {"istio": "eastwestgateway"}, "servers": [
             {"port": {"number": 15443, "name": "tls", "protocol": "TLS"},
              "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}]}},
    ]


def _apply(api, obj: dict) -> None:
    from kubernetes import dynamic
    dyn = dynamic.DynamicClient(api)
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    res.server_side_apply(body=obj, name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"),
                          field_manager="meshlab", force_conflicts=True)


def set_lb_address(api, address: str | None, hostname: str | None = None, gw: Gateway = EASTWEST) -> None:
    """Publish (or clear, with neither) the gateway Service's load-balancer ingress, as a cloud
    controller does: the status subresource."""
    from kubernetes import client
    ingress = [{"ip": address}] if address else ([{"hostname": hostname}] if hostname else [])
    client.CoreV1Api(api).patch_namespaced_service_status(
        gw.name, ISTIO_NS, {"status": {"loadBalancer": {"ingress": ingress}}})


def gateway_address(address: str, present: bool = True, gw: Gateway = EASTWEST) -> None:
    """Add (or remove) a further address on the gateway's VM-network leg: a load balancer that
    moves to a new address while the old one still answers (tests then publish it with
    set_lb_address)."""
    host_side, ns_side, _bridge, _addr = gw.legs[-1]
    res = subprocess.run(["ip", "netns", "exec", gw.netns, "ip", "addr", "add" if present else "del",
                          f"{address}/{PREFIX}", "dev", ns_side], capture_output=True, text=True, check=False)
    if res.returncode != 0 and "File exists" not in res.stderr and "Cannot assign" not in res.stderr:
        raise LabError("vmnet", f"ip addr {'add' if present else 'del'} {address} in {gw.netns}: {res.stderr.strip()}")


def cluster_objects(cfg: Config) -> None:
    api = kube_client(cfg)
    for obj in gateway_objects():
        _apply(api, obj)
    for gw in GATEWAYS:
        set_lb_address(api, gw.lb_ip, gw=gw)


def delete_cluster_objects(cfg: Config) -> None:
    from kubernetes import dynamic
    from kubernetes.client.rest import ApiException
    api = kube_client(cfg)
    dyn = dynamic.DynamicClient(api)
    for obj in reversed(gateway_objects()):
        res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            res.delete(name=obj["metadata"]["name"], namespace=ISTIO_NS)
        except ApiException as exc:
            if exc.status != 404:
                raise


# -- the gateway proxy ----------------------------------------------------------------------

def _workdir(cfg: Config, gw: Gateway = EASTWEST) -> Path:
    return cfg.state / ("eastwest" if gw is EASTWEST else gw.proc)


def _prepare_workdir(cfg: Config, gw: Gateway) -> Path:
    """pilot-agent's relative paths (./var/run/secrets/..., ./etc/istio/proxy, the bootstrap
    template) under the gateway's working directory, as a gateway pod's mounts provide them."""
    from kubernetes import client
    work = _workdir(cfg, gw)
    api = kube_client(cfg)
    core = client.CoreV1Api(api)
    tokens = work / "var/run/secrets/tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=["istio-ca"], expiration_seconds=7 * 24 * 3600))
    token = core.create_namespaced_service_account_token(gw.name, ISTIO_NS, req).status.token
    target = tokens / "istio-token"
    target.touch(mode=0o600)
    target.write_text(token)
    root = core.read_namespaced_config_map("istio-ca-root-cert", ISTIO_NS).data["root-cert.pem"]
    (work / "var/run/secrets/istio").mkdir(parents=True, exist_ok=True)
    (work / "var/run/secrets/istio/root-cert.pem").write_text(root)
    (work / "etc/istio/proxy").mkdir(parents=True, exist_ok=True)
    tmpl = work / "var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
    tmpl.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cfg.istio_module_dir / "tools/packaging/common/envoy_bootstrap.json", tmpl)
    return work


def gateway_env(cfg: Config, gw: Gateway = EASTWEST) -> dict[str, str]:
    from .hosts import envoy_binary
    proxy_config = {"discoveryAddress": f"{cfg.host_ip}:{cfg.istiod_ports['secure_grpc']}",
                    "binaryPath": str(envoy_binary()), "configPath": "./etc/istio/proxy",
                    "statusPort": 15020,   # the agent's; Envoy serves 15021 from it
                    "meshId": MESH_ID,
                    # Istio's bootstrap keeps only a few stats; a gateway's operator adds the
                    # ones to watch (proxy.istio.io/config): its upstream clusters (istiod and
                    # the sni-dnat ones of AUTO_PASSTHROUGH) and the listeners' connections.
                    "proxyStatsMatcher": {"inclusionPrefixes": [
                        "cluster.outbound", "listener.0.0.0.0_15443.", "listener.0.0.0.0_15012."]}}
    return {
        "PROXY_CONFIG": json.dumps(proxy_config),
        # istiod's certificate names istiod.istio-system.svc, not the host address used here.
        "ISTIOD_SAN": f"istiod.{ISTIO_NS}.svc",
        "POD_NAME": f"{gw.name}-meshlab", "POD_NAMESPACE": ISTIO_NS, "INSTANCE_IP": gw.instance_ip,
        "SERVICE_ACCOUNT": gw.name, "JWT_POLICY": "third-party-jwt", "PILOT_CERT_PROVIDER": "istiod",
        "TRUST_DOMAIN": TRUST_DOMAIN, "ISTIO_META_CLUSTER_ID": CLUSTER_ID, "ISTIO_META_MESH_ID": MESH_ID,
        "ISTIO_META_NETWORK": gw.network, "ISTIO_META_WORKLOAD_NAME": gw.name,
        "ISTIO_METAJSON_LABELS": json.dumps(gw.labels),
        # What Istio's gen-eastwest-gateway.sh and its gateway template set.
        "ISTIO_META_ROUTER_MODE": "sni-dnat", "ISTIO_META_REQUESTED_NETWORK_VIEW": gw.network,
    }


def gateway(cfg: Config, gw: Gateway = EASTWEST) -> None:
    step = "eastwest" if gw is EASTWEST else gw.proc
    proc = Proc(cfg, gw.proc)
    if proc.running():
        return
    work = _prepare_workdir(cfg, gw)
    agent = str(istio_binary(cfg, "pilot-agent"))
    argv = ["ip", "netns", "exec", gw.netns, agent, "proxy", "router", f"--domain={ISTIO_NS}.svc.cluster.local",
            "--proxyLogLevel=warning"]
    legs = " / ".join(leg[3] for leg in gw.legs)
    say(f"starting the {gw.network} gateway (pilot-agent proxy router) at {legs}")
    proc.start(argv, gateway_env(cfg, gw), cwd=work, exe=agent)
    listeners = [port for key, port in gw.ports.items() if key.startswith("tls") and key != "tls-webhook"]

    def ready() -> bool:
        if not proc.running():
            raise LabError(step, f"the gateway exited during start-up\n{proc.log_tail()}")
        with urllib.request.urlopen(f"http://{gw.legs[0][3]}:{gw.ports['status-port']}/healthz/ready",
                                    timeout=2) as res:
            return res.status == 200 and all(tcp_open(gw.lb_ip, port) for port in listeners)

    try:
        wait_for(step, f"gateway ready with listeners {', '.join(map(str, listeners))}", ready, 90,
                 on_timeout=proc.log_tail)
    except LabError:
        proc.stop()
        raise


def stats(prefix: str, gw: Gateway = EASTWEST) -> dict[str, int]:
    """The gateway Envoy's counters whose names start with ``prefix`` (admin port in its netns)."""
    res = subprocess.run(["ip", "netns", "exec", gw.netns, "curl", "-sS", "--max-time", "5",
                          "http://127.0.0.1:15000/stats?filter=" + urllib.parse.quote("^" + re.escape(prefix))],
                         capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep and value.strip().isdigit():
            out[name] = int(value)
    return out


# -- entry points ------------------------------------------------------------------------------

def up(cfg: Config) -> None:
    started = time.monotonic()
    network(cfg)
    serve_mirror(cfg)
    cluster_objects(cfg)
    for gw in GATEWAYS:
        gateway(cfg, gw)
    say(f"VM network and east-west gateway up in {time.monotonic() - started:.1f} s")


def down(cfg: Config) -> list[str]:
    """Stop what `vmnet up` started, by recorded PID, and remove its links, netns and rules."""
    from .hosts import stop_vms_where
    stopped = stop_vms_where(cfg, on_vmnet)
    for name in [gw.proc for gw in GATEWAYS] + ["pkg-server-vmnet"]:
        if Proc(cfg, name).stop():
            stopped.append(name)
    marker = cfg.state / "vmnet.json"
    if not marker.exists():
        return stopped
    if Proc(cfg, "kube-apiserver").running():
        delete_cluster_objects(cfg)
    for gw in GATEWAYS:
        if _netns_exists(gw.netns):
            subprocess.run(["ip", "netns", "del", gw.netns], check=False)
            stopped.append(f"netns {gw.netns}")
    for link in [leg[0] for gw in GATEWAYS for leg in gw.legs] + [BRIDGE]:
        if link in _links():
            subprocess.run(["ip", "link", "del", link], check=False)
            stopped.append(link)
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True, check=False)
    for gw in GATEWAYS:
        shutil.rmtree(_workdir(cfg, gw), ignore_errors=True)
    marker.unlink()
    return stopped


def status(cfg: Config) -> list[tuple[str, Proc | None, str]]:
    if not is_up(cfg):
        return []
    return [(gw.proc, Proc(cfg, gw.proc),
             f"{gw.lb_ip}:15443 (LB), " + ", ".join(leg[3] for leg in gw.legs if leg[3] != gw.lb_ip))
            for gw in GATEWAYS] + [("pkg-server-vmnet", Proc(cfg, "pkg-server-vmnet"), pkg_url(cfg))]
