# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vm_state_info's pure parts: the certificate's text, the readiness answer worded as uri words it, and
the wait for it; and the reads of files and the certificate (vm_reads) on this host's files, with this
host's openssl and without it."""
from __future__ import annotations

import base64
import calendar
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import (
    cert_facts, decoded_text, ready_facts, vm_reads, wait_ready)
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.fake_clock import Clock

EXPIRY = calendar.timegm((2026, 12, 3, 12, 0, 0))
OPENSSL = ("notAfter=Dec  3 12:00:00 2026 GMT\n"
           "X509v3 Subject Alternative Name: critical\n"
           "    URI:spiffe://cluster.local/ns/lab-vms/sa/lab-app\n")


@pytest.mark.parametrize("text,now,expected", [
    # openssl's text: the expiry with its double space collapsed, the SPIFFE ID
    (OPENSSL, EXPIRY - 3600,
     {"exists": True, "uris": ["spiffe://cluster.local/ns/lab-vms/sa/lab-app"],
      "not_after": "Dec 3 12:00:00 2026 GMT", "seconds_left": 3600}),
    # expired: negative, truncated toward zero as the role's int() did
    (OPENSSL, EXPIRY + 10.7, {"exists": True, "uris": ["spiffe://cluster.local/ns/lab-vms/sa/lab-app"],
                              "not_after": "Dec 3 12:00:00 2026 GMT", "seconds_left": -10}),
    # two URIs (openssl separates them with ", "), other SAN kinds ignored
    ("notAfter=Jan 10 01:02:03 2027 GMT\nX509v3 Subject Alternative Name: \n"
     "    DNS:vm1.example, URI:spiffe://a/ns/x/sa/y, URI:spiffe://b/ns/x/sa/y\n", EXPIRY,
     {"exists": True, "uris": ["spiffe://a/ns/x/sa/y", "spiffe://b/ns/x/sa/y"],
      "not_after": "Jan 10 01:02:03 2027 GMT",
      "seconds_left": calendar.timegm((2027, 1, 10, 1, 2, 3)) - EXPIRY}),
    # a file neither openssl nor Python could read: it exists, with nothing in it
    ("", EXPIRY, {"exists": True, "uris": [], "not_after": "", "seconds_left": -1}),
    # no file
    (None, EXPIRY, {"exists": False, "uris": [], "not_after": "", "seconds_left": -1}),
])
def test_cert_facts(text, now, expected):
    assert cert_facts(text, now) == expected


def test_decoded_text_reads_like_openssl():
    decoded = {"notAfter": "Dec  3 12:00:00 2026 GMT",
               "subjectAltName": (("DNS", "vm1.example"), ("URI", "spiffe://cluster.local/ns/lab-vms/sa/lab-app"))}
    text = decoded_text(decoded)
    assert text == "notAfter=Dec  3 12:00:00 2026 GMT\nURI:spiffe://cluster.local/ns/lab-vms/sa/lab-app\n"
    assert cert_facts(text, EXPIRY) == cert_facts(OPENSSL, EXPIRY)


def test_decoded_text_without_san():
    assert cert_facts(decoded_text({"notAfter": "Dec  3 12:00:00 2026 GMT"}), EXPIRY)["uris"] == []


@pytest.mark.parametrize("status,msg,expected", [
    (200, "OK (unknown bytes)", {"status": 200, "msg": "OK (unknown bytes)"}),
    (503, "HTTP Error 503: Service Unavailable",
     {"status": 503, "msg": "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"}),
    (-1, "Request failed: <urlopen error [Errno 111] Connection refused>",
     {"status": -1, "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>"}),
])
def test_ready_facts(status, msg, expected):
    assert ready_facts(status, msg) == expected


class Endpoint(Clock):
    """A readiness endpoint on a clock of its own: it answers 503 until ``ready_at`` seconds, then
    200; each ask takes ``takes`` seconds."""

    def __init__(self, ready_at, takes=0.0):
        super().__init__(takes)
        self.ready_at = ready_at

    def answer(self):
        return ready_facts(200, "OK") if self.now >= self.ready_at else ready_facts(503, "HTTP Error 503")


def wait(endpoint, seconds, interval):
    return wait_ready(endpoint.ask, seconds, interval, clock=endpoint.clock, sleep=endpoint.sleep)


def test_wait_ready_stops_at_the_first_200():
    endpoint = Endpoint(ready_at=2.5)
    assert wait(endpoint, 120, 1) == {"status": 200, "msg": "OK", "attempts": 4}
    assert endpoint.asked == [0, 1, 2, 3]


def test_wait_ready_asks_once_when_ready_or_without_a_wait():
    assert wait(Endpoint(ready_at=0), 120, 1)["attempts"] == 1
    endpoint = Endpoint(ready_at=5)
    answer = wait(endpoint, 0, 1)
    assert (answer["status"], answer["attempts"], endpoint.slept) == (503, 1, [])
    assert answer["msg"].startswith("Status code was 503 and not [200]")


def test_wait_ready_gives_up_after_the_wait_with_the_last_answer():
    # the loop itself (pauses, the last ask at the end of the wait, the time an ask takes): test__poll
    endpoint = Endpoint(ready_at=100)
    answer = wait(endpoint, 2.5, 1)
    assert answer["status"] == 503 and answer["attempts"] == 4
    assert answer["msg"].startswith("Status code was 503 and not [200]")


class Host:
    """What vm_reads uses of a module (get_bin_path, run_command), on this host; ``openssl``: whether it
    finds openssl."""

    def __init__(self, openssl=True):
        self.openssl = openssl

    def get_bin_path(self, name):
        return shutil.which(name) if self.openssl else None

    def run_command(self, args, data=None, binary_data=False):
        assert binary_data and isinstance(data, bytes), "the certificate goes to openssl's stdin as it is"
        done = subprocess.run(args, input=data, capture_output=True, check=False)
        return done.returncode, done.stdout.decode(), done.stderr.decode()


SPIFFE = "spiffe://cluster.local/ns/lab-vms/sa/lab-app"


@pytest.fixture(scope="module")
def workload_cert(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make the certificate")
    path = tmp_path_factory.mktemp("cert") / "cert-chain.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(path.with_suffix(".key")), "-out", str(path), "-days", "2", "-subj", "/O=lab",
                    "-addext", "subjectAltName=URI:" + SPIFFE], capture_output=True, check=True)
    return path


@pytest.mark.parametrize("openssl", [True, False], ids=["openssl", "python"])
def test_vm_reads_reads_what_it_is_asked(tmp_path, workload_cert, openssl):
    env, hosts = tmp_path / "cluster.env", tmp_path / "hosts"
    env.write_bytes(b"CANONICAL_SERVICE=lab-app\n")
    hosts.write_text("127.0.0.1 localhost\n10.213.0.1 istiod.istio-system.svc\n")
    now = calendar.timegm((2026, 12, 5, 0, 0, 0))
    read = vm_reads(Host(openssl), [str(env), str(tmp_path / "missing")], str(workload_cert), str(hosts), now=now)
    assert read["checksums"] == {str(env): hashlib.sha256(env.read_bytes()).hexdigest(), str(tmp_path / "missing"): ""}
    assert read["hosts"] == hosts.read_text()
    cert = read["cert"]
    assert cert["exists"] and cert["uris"] == [SPIFFE], cert
    assert cert["seconds_left"] == calendar.timegm(time.strptime(cert["not_after"], "%b %d %H:%M:%S %Y GMT")) - now
    assert [base64.b64decode(item) for item in cert["chain"]] == [ssl.PEM_cert_to_DER_cert(workload_cert.read_text())]


def test_a_fifo_at_the_certificate_path_is_read_as_no_certificate_without_waiting(tmp_path):
    """istio-proxy owns /etc/certs: a FIFO it put there must not hang the read (openssl -in blocks on one)."""
    fifo = tmp_path / "cert-chain.pem"
    os.mkfifo(fifo)
    read = vm_reads(Host(), [], str(fifo), now=0)
    assert read == {"cert": {"exists": True, "uris": [], "not_after": "", "seconds_left": -1, "chain": []}}


def test_an_empty_certificate_file_is_read_as_no_certificate_without_asking_openssl(tmp_path):
    """run_command gives openssl no stdin for empty data: openssl would read the module's own, and wait."""
    empty = tmp_path / "cert-chain.pem"
    empty.write_bytes(b"")

    class NoRun(Host):
        def run_command(self, args, data=None, binary_data=False):
            raise AssertionError("openssl run for an empty file")
    assert vm_reads(NoRun(), [], str(empty), now=0)["cert"]["exists"] is True


def test_vm_reads_only_what_it_is_asked(tmp_path):
    assert vm_reads(Host(), now=0) == {}
    # a missing certificate and hosts file are reported, not an error
    read = vm_reads(Host(), [], str(tmp_path / "none.pem"), str(tmp_path / "hosts"), now=0)
    assert read == {"cert": {"exists": False, "uris": [], "not_after": "", "seconds_left": -1, "chain": []},
                    "hosts": ""}


@pytest.mark.parametrize("parts", [
    ("leaf", "intermediate", "root"),                      # a plug-in CA: istiod appends its root bundle
    ("direct", "other", "root"),                           # a self-signed CA with another root in its bundle
    ("direct",),
    ("root",),
])
def test_the_read_returns_the_certificates_of_the_chain_file(tmp_path, parts):
    root = make("mesh root")
    intermediate = make("intermediate", issuer=root)
    chain = {"root": root, "intermediate": intermediate, "other": make("other root"),
             "leaf": make(None, issuer=intermediate, ca=False, san=SPIFFE),
             "direct": make(None, issuer=root, ca=False, san=SPIFFE)}
    path = tmp_path / "cert-chain.pem"
    path.write_text("".join(chain[part].pem for part in parts).replace("\n", "\r\n"))
    read = vm_reads(Host(), [], str(path), now=0)["cert"]
    assert [base64.b64decode(item) for item in read["chain"]] == [chain[part].der for part in parts]
    assert read["uris"] == ([] if parts == ("root",) else [SPIFFE])


def test_certificate_times_are_read_whatever_the_locale(german_locale):
    # AnsibleModule sets the locale from the environment (setlocale(LC_ALL, "")), which SSH and PAM may
    # give the module; openssl prints English month names, and time.strptime's %b expects the locale's.
    script = """
import calendar, json, locale, sys, time
locale.setlocale(locale.LC_ALL, "")
from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import cert_facts
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
out = {"strptime_fails": []}
for number, month in enumerate(months, 1):
    text = "%s  3 12:00:00 2026 GMT" % month
    expected = calendar.timegm((2026, number, 3, 12, 0, 0))
    out[month] = cert_facts("notAfter=" + text + "\\n", expected - 10)["seconds_left"]
    try:
        time.strptime(text, "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        out["strptime_fails"].append(month)
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **german_locale))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out.pop("strptime_fails") == ["Mar", "May", "Oct", "Dec"]       # the locale is in force
    assert out == {month: 10 for month in out} and len(out) == 12
