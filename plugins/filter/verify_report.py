# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_report
short_description: The per-VM report of playbooks/verify.yml, as a text table or as one JSON document
version_added: 0.2.0
description:
  - Turns what C(playbooks/verify.yml) read about each VM (one row per VM) into the report it ends
    with - sidecar ready, the workload certificate's SPIFFE ID and expiry, the service account
    token's expiry, whether the VM's WorkloadEntry is Healthy, and the drift from the inventory.
  - O(format=table) gives a list of lines, a fixed-width table followed by each drifting VM's
    findings and a summary line; each line prints as one line in a terminal and in AWX's job output.
  - O(format=json) gives the same as one document - C(vms) (one record per VM, sorted by name) and
    C(summary) - for monitoring (write it with C(to_nice_json)).
  - Times are UTC. The token's expiry is O(now) plus the seconds it had left when it was read.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - One dict per VM. C(vm) is the inventory name; C(ready_status) the HTTP status of the
        sidecar's readiness URL (none when it did not answer); C(cert) the fact C(vm_sidecar_cert)
        (C(exists), C(uris), C(not_after), C(seconds_left)); C(expected_san) the SPIFFE ID the
        inventory gives; C(token) the C(claims) of meshops.istio_vm.token_claims; C(entry) the VM's
        item of meshops.istio_vm.workload_entry_info (empty when there is none) and C(entry_name)
        its C(namespace/name); C(probe) whether the workload has a readiness probe; C(drift) the
        VM's findings (a list of strings, empty when it is in line with the inventory).
    type: list
    elements: dict
    required: true
  format:
    description: C(table) (a list of lines) or C(json) (a dict).
    type: str
    default: table
    choices: [table, json]
  now:
    description: The time the rows were read, as an ISO 8601 string with a time zone; the current time when omitted.
    type: str
  hosts:
    description:
      - The names of all VMs the report is about (C(ansible_play_hosts_all)). A VM without a row, one
        the run could not reach or failed on before it compared it, gets one that says it was not
        verified (C(verified) false, C(ok) false); it counts as drifting, so that a monitoring job sees it.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Report per VM
  ansible.builtin.debug:
    msg: "{{ rows | meshops.istio_vm.verify_report }}"

- name: Write the report for monitoring
  ansible.builtin.copy:
    content: "{{ rows | meshops.istio_vm.verify_report('json') | to_nice_json }}"
    dest: /var/lib/mesh-monitor/verify.json
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description:
    - With O(format=table), the lines of the report.
    - With O(format=json), C(vms) (per VM - C(vm), C(ok), C(verified), C(sidecar_ready), C(cert_san),
      C(cert_san_expected), C(cert_san_ok), C(cert_expires), C(cert_seconds_left), C(token_expires),
      C(token_seconds_left), C(entry), C(entry_exists), C(entry_healthy), C(drift)) and C(summary)
      (C(vms), C(ok), C(drifting), C(generated)). C(entry_healthy) is null when the workload has no
      readiness probe (istiod then reports no health).
  type: raw
"""

import ssl
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from ansible.errors import AnsibleFilterError

COLUMNS = ("VM", "READY", "CERT SAN", "CERT EXPIRES", "TOKEN EXPIRES", "ENTRY HEALTHY", "DRIFT")
NOT_VERIFIED = ("not verified: the run could not reach this VM or failed on it before comparing it with the "
                "inventory (see its error above)")


def _now(now: Any) -> datetime:
    if now in (None, ""):
        return datetime.now(timezone.utc)
    if isinstance(now, datetime):
        when = now
    else:
        try:
            when = datetime.fromisoformat(str(now).replace("Z", "+00:00"))
        except ValueError as exc:
            raise AnsibleFilterError("verify_report: now=%r is not an ISO 8601 time" % (now,)) from exc
    if when.tzinfo is None:
        raise AnsibleFilterError("verify_report: now=%r has no time zone" % (now,))
    return when.astimezone(timezone.utc)


def _iso(when: Optional[datetime]) -> Optional[str]:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _cert_expiry(cert: Dict[str, Any]) -> Optional[datetime]:
    """openssl's and Python's notAfter ('Dec  3 05:00:00 2026 GMT')."""
    text = " ".join(str(cert.get("not_after") or "").split())
    if not text:
        return None
    try:    # English month names whatever the controller's locale (datetime.strptime's %b follows it)
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), timezone.utc)
    except ValueError:
        return None


def _record(row: Dict[str, Any], now: datetime) -> Dict[str, Any]:
    if not isinstance(row, dict) or not row.get("vm"):
        raise AnsibleFilterError("verify_report: each row must be a dict with 'vm', got %r" % (row,))
    cert = row.get("cert") or {}
    cert_exists = bool(cert.get("exists")) and str(cert.get("exists")).lower() != "false"
    uris = [str(u) for u in cert.get("uris") or []] if cert_exists else []
    expected = str(row.get("expected_san") or "")
    token = row.get("token") or {}
    token_left = _int(token.get("left"))
    entry = row.get("entry") or {}
    probe = bool(row.get("probe"))
    drift = [str(line) for line in row.get("drift") or []]
    cert_expires = _cert_expiry(cert) if cert_exists else None
    return {
        "vm": str(row["vm"]),
        "ok": not drift,
        "verified": row.get("verified", True) is not False,
        "sidecar_ready": _int(row.get("ready_status")) == 200,
        "cert_san": uris,
        "cert_san_expected": expected,
        "cert_san_ok": bool(expected) and expected in uris,
        "cert_expires": _iso(cert_expires),
        "cert_seconds_left": (int((cert_expires - now).total_seconds()) if cert_expires
                              else _int(cert.get("seconds_left")) if cert_exists else None),
        "token_expires": _iso(now + timedelta(seconds=token_left)) if token_left is not None else None,
        "token_seconds_left": token_left,
        "entry": str(row.get("entry_name") or ""),
        "entry_exists": bool(entry),
        "entry_healthy": (str(entry.get("healthy")) == "True") if probe and entry else None,
        "drift": drift,
    }


def _duration(seconds: int) -> str:
    left = abs(seconds)
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = "%dd%02dh" % (days, hours) if days else "%dh%02dm" % (hours, minutes) if hours else "%dm" % minutes
    return ("in " + text) if seconds >= 0 else ("expired %s ago" % text)


def _expiry_cell(expires: Optional[str], seconds: Optional[int], missing: str) -> str:
    if seconds is None:
        return missing
    when = (expires[:10] + " " + expires[11:16] + "Z ") if expires else ""
    return "%s(%s)" % (when, _duration(seconds)) if when else _duration(seconds)


def _cells(rec: Dict[str, Any]) -> List[str]:
    if not rec["verified"]:
        return [rec["vm"]] + ["?"] * (len(COLUMNS) - 2) + ["%d (below)" % len(rec["drift"])]
    if not rec["cert_san"]:
        san = "none" if rec["cert_expires"] or rec["cert_seconds_left"] is not None else "no certificate"
    else:
        san = ", ".join(rec["cert_san"])
    if rec["cert_san"] and not rec["cert_san_ok"]:
        san = "WRONG " + san
    if not rec["entry_exists"]:
        healthy = "no entry"
    elif rec["entry_healthy"] is None:
        healthy = "no probe"
    else:
        healthy = "yes" if rec["entry_healthy"] else "NO"
    return [
        rec["vm"],
        "yes" if rec["sidecar_ready"] else "NO",
        san,
        _expiry_cell(rec["cert_expires"], rec["cert_seconds_left"], "-"),
        _expiry_cell(rec["token_expires"], rec["token_seconds_left"], "no token"),
        healthy,
        "none" if rec["ok"] else "%d (below)" % len(rec["drift"]),
    ]


def _table(records: List[Dict[str, Any]]) -> List[str]:
    rows = [list(COLUMNS)] + [_cells(rec) for rec in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(cells: List[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = [line(rows[0]), line(["-" * width for width in widths])] + [line(row) for row in rows[1:]]
    for rec in records:
        if rec["drift"]:
            out.append("%s drifts:" % rec["vm"])
            out.extend("  - " + finding for finding in rec["drift"])
    drifting = [rec["vm"] for rec in records if not rec["ok"]]
    out.append("%d VMs: %d in line with the inventory, %d drifting%s" % (
        len(records), len(records) - len(drifting), len(drifting), (" (%s)" % ", ".join(drifting)) if drifting else ""))
    return out


def verify_report(rows: Any, format: str = "table", now: Any = None,  # pylint: disable=redefined-builtin
                  hosts: Any = None) -> Any:
    if not isinstance(rows, list):
        raise AnsibleFilterError("verify_report: expects a list of rows, got %s" % type(rows).__name__)
    if format not in ("table", "json"):
        raise AnsibleFilterError("verify_report: format must be 'table' or 'json', got %r" % (format,))
    if hosts is not None and (not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts)):
        raise AnsibleFilterError("verify_report: hosts must be a list of VM names, got %r" % (hosts,))
    when = _now(now)
    records = [_record(row, when) for row in rows]
    seen = {rec["vm"] for rec in records}
    records += [_record({"vm": name, "verified": False, "drift": [NOT_VERIFIED]}, when)
                for name in dict.fromkeys(hosts or []) if name not in seen]
    records.sort(key=lambda rec: rec["vm"])
    if format == "table":
        return _table(records)
    drifting = [rec["vm"] for rec in records if not rec["ok"]]
    return {"vms": records,
            "summary": {"vms": len(records), "ok": len(records) - len(drifting), "drifting": drifting,
                        "generated": _iso(when)}}


class FilterModule:
    def filters(self):
        return {"verify_report": verify_report}
