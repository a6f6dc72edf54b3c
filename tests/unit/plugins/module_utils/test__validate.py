# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils import _validate as v

OK = None

CHECKS = [
    (v.check_port, 1, OK), (v.check_port, 65535, OK), (v.check_port, "8080", OK),
    (v.check_port, 0, "0 is not in 1..65535"), (v.check_port, True, "True is not an integer"),
    (v.check_port, 8080.5, "8080.5 is not an integer"),
    (v.check_dns1123_label, "istio-system", OK), (v.check_dns1123_label, "Istio", "is not a DNS-1123 label"),
    (v.check_dns1123_label, "a" * 64, "the limit is 63"),
    (v.check_dns1123_subdomain, "vm.app-1", OK), (v.check_dns1123_subdomain, "vm..app", "is not a DNS-1123 subdomain"),
    (v.check_dns1123_subdomain, "a" * 254, "the limit is 253"),
    (v.check_label_key, "app.kubernetes.io/name", OK), (v.check_label_key, "a_b.c", OK),
    (v.check_label_key, "/name", "invalid prefix"), (v.check_label_key, "Example.com/name", "invalid prefix"),
    (v.check_label_key, "a/b/c", "invalid prefix"), (v.check_label_key, "x" * 64, "name part"), (v.check_label_key, "", "non-empty"),
    (v.check_label_value, "", OK), (v.check_label_value, "v1.2_3", OK), (v.check_label_value, "v1-", "value 'v1-'"),
    (v.check_label_value, 1, "is not a string"),
    (v.check_ip, "10.0.0.1", OK), (v.check_ip, "fd00::1", OK), (v.check_ip, "fe80::1%eth0", OK),
    (v.check_ip, "010.0.0.1", "not a valid IP"), (v.check_ip, "10.0.0.1/32", "not a valid IP"), (v.check_ip, "", "not a valid IP"),
    (v.check_ip_or_cidr, "10.0.0.1/8", OK), (v.check_ip_or_cidr, "fd00::/64", OK), (v.check_ip_or_cidr, "10.0.0.1", OK),
    (v.check_ip_or_cidr, "10.0.0.0/08", "not a valid CIDR"), (v.check_ip_or_cidr, "fd00::/129", "not a valid CIDR"),
    (v.check_ip_or_cidr, "fe80::1%eth0/64", "not a valid CIDR"), (v.check_ip_or_cidr, "10.0.0.0/8/8", "not a valid IP"),
    (v.check_fqdn, "istio.io.", OK), (v.check_fqdn, "API.Example.com", OK), (v.check_fqdn, "1.2.3.4", "all-numeric"),
    (v.check_fqdn, "*.example.com", "label '*' invalid"), (v.check_fqdn, "", "empty domain"), (v.check_fqdn, "a." * 128, "too long"),
    (v.check_wildcard_domain, "*.example.com", OK), (v.check_wildcard_domain, "*", OK), (v.check_wildcard_domain, "*-svc.ns", OK),
    (v.check_wildcard_domain, "a.*.com", "label '*' invalid"), (v.check_wildcard_domain, "-a.com", "label '-a' invalid"),
    (v.check_unix_address, "unix:///var/run/a.sock", OK), (v.check_unix_address, "unix://@abstract", OK),
    (v.check_unix_address, "unix://", "must not be empty"), (v.check_unix_address, "unix:///var/", "not an absolute path"),
    (v.check_port_name, "http-2", OK), (v.check_port_name, "HTTP", OK), (v.check_port_name, "http-", "must match"),
    (v.check_protocol, "http", OK), (v.check_protocol, "", OK), (v.check_protocol, "DoubleHBONE", "unsupported protocol"),
    (v.check_dns1035_label, "ratings-vm", OK), (v.check_dns1035_label, "r2", OK),
    (v.check_dns1035_label, "2r", "is not a DNS-1035 label"), (v.check_dns1035_label, "ratings.vm", "is not a DNS-1035 label"),
    (v.check_dns1035_label, "ratings-", "is not a DNS-1035 label"), (v.check_dns1035_label, "r" * 64, "the limit is 63"),
    (v.check_dns1035_label, 7, "is not a string"),
    (v.check_iana_svc_name, "http", OK), (v.check_iana_svc_name, "h2c-15-chars-ok", OK), (v.check_iana_svc_name, "9a", OK),
    (v.check_iana_svc_name, "h" * 16, "is 16 characters long, the limit is 15"),
    (v.check_iana_svc_name, "8080", "at least one letter"), (v.check_iana_svc_name, "Http", "only lower case alphanumerics"),
    (v.check_iana_svc_name, "http_alt", "only lower case alphanumerics"), (v.check_iana_svc_name, "http--alt", "no '--'"),
    (v.check_iana_svc_name, "-http", "no '-' at either end"), (v.check_iana_svc_name, "http-", "no '-' at either end"),
    (v.check_qualified_name, "http", OK), (v.check_qualified_name, "kubernetes.io/h2c", OK),
    (v.check_qualified_name, "Mixed_Case.1", OK), (v.check_qualified_name, "", "non-empty"),
    (v.check_qualified_name, "http 2", "is not a qualified name"), (v.check_qualified_name, "a" * 64, "is not a qualified name"),
    (v.check_qualified_name, "/h2c", "invalid prefix"), (v.check_qualified_name, "a/b/c", "invalid prefix"),
    # a directory a role chowns to istio-proxy 0700 or deletes recursively
    (v.check_owned_dir, "/var/lib/istio/tokens", OK), (v.check_owned_dir, "/var/cache/meshops-istio-vm", OK),
    (v.check_owned_dir, "/srv/mesh/tokens/", OK), (v.check_owned_dir, "relative/dir", OK),  # check_path's to refuse
    (v.check_owned_dir, "/etc", "'/etc' is a system directory"), (v.check_owned_dir, "/var/lib/", "'/var/lib' is a system"),
    (v.check_owned_dir, "/var/cache", "'/var/cache' is a system"), (v.check_owned_dir, "//var/./run", "'/var/run' is a system"),
    (v.check_owned_dir, "/usr/local/bin", "'/usr/local/bin' is a system"),
    (v.check_owned_dir, "/etc/systemd/system", "is a system directory"),
    (v.check_owned_dir, "/var/lib/istio", "is a system directory"),
    (v.check_owned_dir, "/var/lib/istio/tokens/..", "'/var/lib/istio' is a system directory"),
    (v.check_owned_dir, "/srv/tokens", "'/srv/tokens' is too close to /"), (v.check_owned_dir, "/home/alice", "too close to /"),
    (v.check_owned_dir, "/istio", "too close to /"),
    # Python's $ also matches before a final newline: a name must end where the text ends
    (v.check_dns1123_label, "canary\n", "is not a DNS-1123 label"),
    (v.check_dns1123_subdomain, "vm.app\n", "is not a DNS-1123 subdomain"),
    (v.check_dns1035_label, "ratings\n", "is not a DNS-1035 label"),
    (v.check_label_value, "net1\n", "value 'net1\\n'"), (v.check_iana_svc_name, "http\n", "only lower case"),
    (v.check_qualified_name, "http\n", "is not a qualified name"), (v.check_port_name, "http\n", "must match"),
    # the addresses a VM's files hold (cluster.env, which a shell runs, and /etc/hosts): no zone
    (v.check_plain_ip, "10.0.0.1", OK), (v.check_plain_ip, "fd00::1", OK),
    (v.check_plain_ip, "fe80::1%eth0", "has an IPv6 zone"), (v.check_plain_ip, "fe80::1%$(reboot)", "has an IPv6 zone"),
    (v.check_plain_ip, "10.0.0.1\n", "not a valid IP"),
]


@pytest.mark.parametrize("check, value, expected", CHECKS, ids=["%s-%r" % (c[0].__name__, c[1])[:60] for c in CHECKS])
def test_checks(check, value, expected):
    problem = check(value)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem, problem


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:80", ("127.0.0.1", "80")),
    ("[::1]:80", ("::1", "80")),
    (":80", ("", "80")),
    ("host:", ("host", "")),
])
def test_split_host_port(value, expected):
    assert v.split_host_port(value) == expected


@pytest.mark.parametrize("value, message", [
    ("127.0.0.1", "missing port"), ("::1:80", "too many colons"), ("[::1", "missing ']'"), ("[::1]80", "missing port"),
])
def test_split_host_port_errors(value, message):
    with pytest.raises(ValueError, match=message):
        v.split_host_port(value)


@pytest.mark.parametrize("check, value, expected", [
    (v.check_labels, {"app": "x", "bad key": "y", "ok": "-"}, ['l["bad key"]: key', "l.ok: value '-'"]),
    (v.check_labels, ["app"], ["l: must be a dict"]),
    (v.check_annotations, {"Example.COM/Owner": "x", "n": 1}, ["l.n: value 1 is not a string"]),
    (v.check_selector, {"a*": "b", "c": "d" * 64}, ['l["a*"]: wildcard', "l.c: is 64 characters long"]),
])
def test_map_checks(check, value, expected):
    problems = check("l", value)
    assert len(problems) == len(expected)
    assert all(fragment in problem for fragment, problem in zip(expected, problems)), problems


@pytest.mark.parametrize("path, key, expected", [
    ("ports", "http", "ports.http"), ("labels", "app.kubernetes.io/name", 'labels["app.kubernetes.io/name"]'), ("", "x", "x"),
])
def test_join_key(path, key, expected):
    assert v.join_key(path, key) == expected
