# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""What a VM shows of its sidecar (modules vm_state_info and sidecar_package_info): the pure
parts, and the reads of files and the certificate that both modules make (vm_reads).

Runs on the VM: standard library only. The certificate is read as text, the way
``openssl x509 -noout -enddate -ext subjectAltName`` prints it (``notAfter=...`` and ``URI:...``);
``decoded_text`` gives the same text from Python's own decoder when the VM has no openssl.
"""
from __future__ import annotations

import base64
import os
import re
import ssl
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from ansible_collections.meshops.istio_vm.plugins.module_utils._files import read_regular, read_text
from ansible_collections.meshops.istio_vm.plugins.module_utils._http import get
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import changed_after_start, process_started, sha256_of
from ansible_collections.meshops.istio_vm.plugins.module_utils._pem import chain_certificates
from ansible_collections.meshops.istio_vm.plugins.module_utils._poll import poll


def decoded_text(decoded: Dict[str, Any]) -> str:
    """The openssl-like text of a certificate decoded by Python (``ssl._ssl._test_decode_cert``)."""
    lines = ["notAfter=" + str(decoded.get("notAfter", ""))]
    lines.extend("URI:" + value for kind, value in decoded.get("subjectAltName", ()) if kind == "URI")
    return "\n".join(lines) + "\n"


def cert_facts(text: Optional[str], now: float) -> Dict[str, Any]:
    """{exists, uris, not_after, seconds_left} from a certificate's text (None: no certificate).

    ``not_after`` has its runs of spaces collapsed ("Dec 3 12:00:00 2026 GMT"); ``seconds_left``
    is -1 when the text names no expiry, negative once the certificate has expired."""
    if text is None:
        return {"exists": False, "uris": [], "not_after": "", "seconds_left": -1}
    found = re.search(r"notAfter=(.*)", text)
    not_after = " ".join(found.group(1).split()) if found else ""
    seconds_left = -1
    if not_after:
        # not time.strptime's %b: AnsibleModule sets the locale from the environment, whose month
        # names may not be English (openssl's always are); cert_time_to_seconds has its own
        seconds_left = int(ssl.cert_time_to_seconds(not_after) - now)
    return {"exists": True, "uris": re.findall(r"URI:([^\s,]+)", text), "not_after": not_after,
            "seconds_left": seconds_left}


def ask_ready(url: str, timeout: int) -> Dict[str, Any]:
    """Ask the sidecar's readiness endpoint ``url`` once (GET) from this host: ready_facts
    of the answer (status -1 without one). Never through a proxy: the endpoint is the sidecar's
    own, and a proxy from the environment (the play's ``environment:`` for the package download,
    say) cannot reach this host's loopback."""
    response, info = get(url, timeout, use_proxy=False)
    if response is not None:
        response.close()
    return ready_facts(int(info.get("status", -1)), str(info.get("msg", "")))


def wait_ready(ask: Callable[[], Dict[str, Any]], wait: float, interval: float,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Ask the readiness endpoint (``ask``: the ready_facts of one answer) until it answers 200 or
    ``wait`` seconds have passed since the first ask, ``interval`` seconds apart (_poll.poll). The
    last answer, with ``attempts``, the number of asks."""
    answer, attempts = poll(ask, lambda answer: answer["status"] == 200, wait, interval, clock, sleep)
    return dict(answer, attempts=attempts)


def ready_facts(status: int, msg: str, wanted: Iterable[int] = (200,)) -> Dict[str, Any]:
    """{status, msg} of the readiness request, worded as ansible.builtin.uri words a status it
    was not told to expect (``Status code was 503 and not [200]: ...``)."""
    wanted = list(wanted)
    if status not in wanted:
        msg = "Status code was %s and not %s: %s" % (status, wanted, msg)
    return {"status": status, "msg": msg}


def cert_data(path: str) -> Optional[bytes]:
    """The bytes of the certificate file at ``path``: None without a file, empty when it cannot be read or
    is not a regular file (read_regular)."""
    if not os.path.exists(path):
        return None
    return read_regular(path) or b""


def cert_text(module: Any, data: Optional[bytes]) -> Optional[str]:
    """openssl's text of the (first) certificate of ``data`` (cert_data), else the same from Python's decoder
    (decoded_text); None without a file, empty when neither can read it.
    ``module``: its get_bin_path and run_command."""
    if data is None:
        return None
    if not data:
        # run_command would give openssl no stdin for empty data: it would read the module's own
        return ""
    openssl = module.get_bin_path("openssl")
    if openssl:
        rc, out, _err = module.run_command([openssl, "x509", "-noout", "-enddate", "-ext", "subjectAltName"],
                                           data=data, binary_data=True)
        if rc == 0:
            return out
    try:
        with tempfile.NamedTemporaryFile(suffix=".pem") as copy:
            copy.write(data)
            copy.flush()
            return decoded_text(ssl._ssl._test_decode_cert(copy.name))  # pylint: disable=protected-access
    except (AttributeError, OSError, ValueError, ssl.SSLError):
        return ""


def file_sha256(path: str) -> str:
    """The SHA-256 of a regular file; empty when it is missing or unreadable."""
    try:
        return sha256_of(path) if os.path.isfile(path) else ""
    except OSError:
        return ""


def vm_reads(module: Any, checksum: Iterable[str] = (), cert: Optional[str] = None, hosts: Optional[str] = None, *,
             now: float) -> Dict[str, Any]:
    """What checking a VM against the inventory reads of its files, each only when asked: ``checksums``
    (path -> file_sha256, for each of ``checksum``), ``cert`` (cert_facts of the certificate at ``cert``,
    its time left counted from ``now``, and ``chain``, the base64 of each of _pem.chain_certificates) and
    ``hosts`` (the text of the hosts file ``hosts``, empty when it cannot be read)."""
    result: Dict[str, Any] = {}
    if checksum:
        result["checksums"] = {path: file_sha256(path) for path in checksum}
    if cert:
        data = cert_data(cert)
        chain = chain_certificates((data or b"").decode("ascii", "replace"))
        result["cert"] = dict(cert_facts(cert_text(module, data), now),
                              chain=[base64.b64encode(der).decode("ascii") for der in chain])
    if hosts:
        result["hosts"] = read_text(hosts) or ""
    return result


def files_changed_after_start(pid: int, paths: Iterable[str]) -> List[str]:
    """The files of ``paths`` that changed after the process ``pid`` started (changed_after_start, by
    their ctime: a file written or renamed into place, or whose owner or mode changed); missing files
    are left out. None without a process."""
    paths = list(paths)
    if pid <= 0 or not paths:
        return []
    started = process_started(read_text("/proc/%d/stat" % pid), read_text("/proc/stat"), os.sysconf("SC_CLK_TCK"))
    changes = {}
    for path in paths:
        try:
            changes[path] = os.stat(path).st_ctime
        except OSError:
            continue
    return changed_after_start(changes, started)
