# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""verify_report: verify.yml's per-VM table and its JSON twin, from the rows the playbook reads."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.verify_report import verify_report

NOW = "2026-12-02T06:00:00Z"
SAN = "spiffe://cluster.local/ns/lab-vms/sa/lab-app"

GOOD = {
    "vm": "mlab-vm1",
    "ready_status": 200,
    "cert": {"exists": True, "uris": [SAN], "not_after": "Dec  3 05:30:00 2026 GMT", "seconds_left": 84600},
    "expected_san": SAN,
    "token": {"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:lab-vms:lab-app",
              "left": 3 * 86400 + 4 * 3600 + 59, "token": True},
    "entry": {"name": "lab-app-10.213.0.11", "namespace": "lab-vms", "healthy": "True"},
    "entry_name": "lab-vms/lab-app-10.213.0.11",
    "probe": True,
    "drift": [],
}


def row(**changes):
    out = copy.deepcopy(GOOD)
    out.update(changes)
    return out


BAD = row(vm="mlab-vm2", ready_status=None,
          cert={"exists": True, "uris": ["spiffe://cluster.local/ns/lab-vms/sa/other"],
                "not_after": "Dec  1 06:00:00 2026 GMT", "seconds_left": -86400},
          token={"token": False}, entry={}, entry_name="lab-vms/lab-app-10.213.0.12",
          drift=["WorkloadEntry lab-vms/lab-app-10.213.0.12 does not exist", "the sidecar is not ready"])


def test_json_record_of_a_vm_in_line_with_the_inventory():
    doc = verify_report([GOOD], "json", now=NOW)
    assert doc["vms"] == [{
        "vm": "mlab-vm1", "ok": True, "verified": True, "sidecar_ready": True,
        "cert_san": [SAN], "cert_san_expected": SAN, "cert_san_ok": True,
        "cert_expires": "2026-12-03T05:30:00Z", "cert_seconds_left": 84600,
        "token_expires": "2026-12-05T10:00:59Z", "token_seconds_left": 3 * 86400 + 4 * 3600 + 59,
        "entry": "lab-vms/lab-app-10.213.0.11", "entry_exists": True, "entry_healthy": True, "drift": [],
    }]
    assert doc["summary"] == {"vms": 1, "ok": 1, "drifting": [], "generated": "2026-12-02T06:00:00Z"}
    json.dumps(doc)     # one JSON document, nothing Ansible-specific in it


def test_json_record_of_a_vm_that_drifts():
    rec = verify_report([BAD], "json", now=NOW)["vms"][0]
    assert (rec["ok"], rec["sidecar_ready"], rec["cert_san_ok"]) == (False, False, False)
    assert (rec["cert_expires"], rec["cert_seconds_left"]) == ("2026-12-01T06:00:00Z", -86400)
    assert (rec["token_expires"], rec["token_seconds_left"]) == (None, None)
    assert (rec["entry_exists"], rec["entry_healthy"]) == (False, None)
    assert rec["drift"] == BAD["drift"]


@pytest.mark.parametrize("changes, key, expected", [
    ({"probe": False}, "entry_healthy", None),                                   # istiod reports no health
    ({"entry": dict(GOOD["entry"], healthy="False")}, "entry_healthy", False),
    ({"entry": dict(GOOD["entry"], healthy="")}, "entry_healthy", False),
    ({"ready_status": 503}, "sidecar_ready", False),
    ({"ready_status": "200"}, "sidecar_ready", True),
    ({"cert": {"exists": False, "uris": [], "not_after": "", "seconds_left": -1}}, "cert_seconds_left", None),
    ({"cert": {"exists": False, "uris": [], "not_after": "", "seconds_left": -1}}, "cert_san_ok", False),
    ({"cert": {"exists": "False", "uris": [SAN], "not_after": "", "seconds_left": -1}}, "cert_san", []),
    ({"cert": dict(GOOD["cert"], not_after="garbled")}, "cert_seconds_left", 84600),   # the role's own count
    ({"expected_san": ""}, "cert_san_ok", False),
    ({"token": {"left": "-60", "token": True}}, "token_expires", "2026-12-02T05:59:00Z"),
])
def test_json_fields(changes, key, expected):
    assert verify_report([row(**changes)], "json", now=NOW)["vms"][0][key] == expected


def test_table_of_two_vms():
    lines = verify_report([BAD, GOOD], now=NOW)
    assert lines[0].split("  ")[0] == "VM"
    for column in ("READY", "CERT SAN", "CERT EXPIRES", "TOKEN EXPIRES", "ENTRY HEALTHY", "DRIFT"):
        assert column in lines[0]
    assert set(lines[1]) <= {"-", " "}
    vm1, vm2 = lines[2], lines[3]          # sorted by VM
    assert vm1.startswith("mlab-vm1  yes    " + SAN)
    assert "2026-12-03 05:30Z (in 23h30m)" in vm1
    assert "2026-12-05 10:00Z (in 3d04h)" in vm1
    assert vm1.endswith("yes            none")
    assert vm2.startswith("mlab-vm2  NO     WRONG spiffe://cluster.local/ns/lab-vms/sa/other")
    assert "2026-12-01 06:00Z (expired 1d00h ago)" in vm2
    assert "no token" in vm2 and "no entry" in vm2 and vm2.endswith("2 (below)")
    assert lines[4:] == ["mlab-vm2 drifts:",
                         "  - WorkloadEntry lab-vms/lab-app-10.213.0.12 does not exist",
                         "  - the sidecar is not ready",
                         "2 VMs: 1 in line with the inventory, 1 drifting (mlab-vm2)"]


def test_a_vm_the_run_could_not_verify_is_in_the_report_and_drifts():
    """A VM that was unreachable, or failed before its comparison, has no row: with hosts= it still has a
    record, counted as drifting, so that a monitoring job that watches summary.drifting sees it."""
    doc = verify_report([GOOD], "json", now=NOW, hosts=["mlab-vm1", "mlab-vm2", "mlab-vm1"])
    assert [rec["vm"] for rec in doc["vms"]] == ["mlab-vm1", "mlab-vm2"]
    down = doc["vms"][1]
    assert (down["ok"], down["verified"], down["sidecar_ready"]) == (False, False, False)
    assert down["drift"] == ["not verified: the run could not reach this VM or failed on it before comparing it "
                             "with the inventory (see its error above)"]
    assert doc["summary"]["vms"] == 2 and doc["summary"]["drifting"] == ["mlab-vm2"]
    lines = verify_report([GOOD], now=NOW, hosts=["mlab-vm1", "mlab-vm2"])
    assert lines[3].split() == ["mlab-vm2", "?", "?", "?", "?", "?", "1", "(below)"]
    assert lines[-1] == "2 VMs: 1 in line with the inventory, 1 drifting (mlab-vm2)"
    # without hosts, as before: only the rows
    assert verify_report([GOOD], "json", now=NOW)["summary"]["vms"] == 1


def test_table_columns_line_up():
    lines = verify_report([BAD, GOOD, row(vm="a-much-longer-vm-name", probe=False)], now=NOW)
    starts = [line.index("CERT EXPIRES") for line in lines[:1]]
    for line in lines[2:5]:
        assert line[starts[0] - 2:starts[0]] == "  " and line[starts[0]] != " "
    assert "no probe" in lines[2]


def test_table_of_no_vm():
    assert verify_report([], now=NOW)[-1] == "0 VMs: 0 in line with the inventory, 0 drifting"


def test_no_certificate_and_a_certificate_without_spiffe_id():
    lines = verify_report([row(cert={"exists": False, "uris": [], "not_after": "", "seconds_left": -1}),
                           row(vm="mlab-vm3", cert=dict(GOOD["cert"], uris=[]))], now=NOW)
    assert "no certificate" in lines[2] and "  -  " in lines[2]
    assert lines[3].startswith("mlab-vm3  yes    none ")


@pytest.mark.parametrize("seconds, text", [
    (0, "in 0m"), (59, "in 0m"), (3599, "in 59m"), (3600, "in 1h00m"), (86399, "in 23h59m"),
    (86400, "in 1d00h"), (400 * 86400, "in 400d00h"), (-61, "expired 1m ago"),
])
def test_durations(seconds, text):
    rec = verify_report([row(token={"left": seconds, "token": True})], now=NOW)
    assert "(%s)" % text in rec[2]


def test_the_current_time_is_the_default():
    rec = verify_report([GOOD], "json")
    assert rec["summary"]["generated"].endswith("Z") and rec["vms"][0]["token_expires"] > "2026"


@pytest.mark.parametrize("rows, fmt, now, message", [
    ({"vm": "a"}, "table", NOW, "expects a list of rows"),
    ([GOOD], "yaml", NOW, "format must be 'table' or 'json'"),
    ([{"ready_status": 200}], "table", NOW, "each row must be a dict with 'vm'"),
    (["mlab-vm1"], "json", NOW, "each row must be a dict with 'vm'"),
    ([GOOD], "table", "yesterday", "is not an ISO 8601 time"),
    ([GOOD], "table", "2026-12-02T06:00:00", "has no time zone"),
])
def test_refuses(rows, fmt, now, message):
    with pytest.raises(AnsibleFilterError, match=message):
        verify_report(rows, fmt, now=now)


def test_the_certificate_expiry_is_read_whatever_the_controllers_locale(german_locale):
    # datetime.strptime's %b expects the locale's month names; openssl's (in the VM's read) are English
    script = """
import calendar, json, locale
locale.setlocale(locale.LC_ALL, "")
from ansible_collections.meshops.istio_vm.plugins.filter.verify_report import _cert_expiry
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
print(json.dumps([_cert_expiry({"not_after": "%s  3 12:00:00 2026 GMT" % month}).timestamp()
                  - calendar.timegm((2026, number, 3, 12, 0, 0)) for number, month in enumerate(months, 1)]))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **german_locale))
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout) == [0] * 12
