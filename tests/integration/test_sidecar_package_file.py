# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meshops.istio_vm.sidecar_package_file on a lab VM, from the lab's package server: the ladder
(check, apply, check, apply), a wrong mode fixed without a download, and the failures (an HTTP
error retried and counted, a checksum mismatch not retried), each read back from the VM."""
from __future__ import annotations

import uuid

from ansible_run import vm_play as play


def sha256_on_vm(lab, path):
    return lab.ssh(1, "sha256sum", path).stdout.split()[0]


def listing(lab, directory):
    return lab.ssh(1, "find", directory, "-printf", r"%p %u %g %m\n", check=False).stdout


def test_sidecar_package_file_ladder_on_a_vm(lab):
    from meshlab import hosts
    sha = hosts.package_sha256(lab.cfg)
    cache = f"/tmp/meshops-package-file-{uuid.uuid4().hex[:8]}/cache"
    path = f"{cache}/istio-sidecar.deb"
    task = {"meshops.istio_vm.sidecar_package_file": {"path": path, "url": lab.cfg.pkg_url, "sha256": sha.upper()}}
    try:
        checked = play(lab, [dict(task, register="r0")], "--check")[0]["r0"]
        assert checked["changed"] and checked["attempts"] == 0 and not checked["file"]["exists"]
        assert [d["after_header"] for d in checked["diff"]] == [cache, path]
        assert checked["diff"][1]["after"].endswith(f"sha256: {sha}\n")
        assert listing(lab, cache) == "", "check mode wrote on the VM"

        results, out = play(lab, [dict(task, register="r0"), dict(task, register="r1", check_mode=True),
                                  dict(task, register="r2")])
        assert [results[r]["changed"] for r in ("r0", "r1", "r2")] == [True, False, False], out[-3000:]
        assert [results[r]["attempts"] for r in ("r0", "r1", "r2")] == [1, 0, 0]
        applied = results["r0"]
        assert applied["file"]["exists"] and applied["file"]["sha256"] == sha
        assert applied["file"]["version"] and applied["file"]["depends_installed"] is True
        assert results["r2"]["diff"] == []
        assert sha256_on_vm(lab, path) == sha
        assert listing(lab, cache) == f"{cache} root root 755\n{path} root root 644\n"

        # A wrong mode on the right file: fixed, not downloaded again.
        lab.ssh(1, "chmod", "0600", path)
        fixed = play(lab, [dict(task, register="r0")])[0]["r0"]
        assert fixed["changed"] and fixed["attempts"] == 0
        assert listing(lab, cache).endswith(f"{path} root root 644\n")
    finally:
        lab.ssh(1, "rm", "-rf", cache.rsplit("/", 1)[0], check=False)


def test_sidecar_package_file_failures_leave_the_file_as_it_was(lab):
    from meshlab import hosts
    sha = hosts.package_sha256(lab.cfg)
    cache = f"/tmp/meshops-package-file-{uuid.uuid4().hex[:8]}"
    path = f"{cache}/istio-sidecar.deb"
    missing = lab.cfg.pkg_url.rsplit("/", 1)[0] + "/no-such-istio-sidecar.deb"
    try:
        lab.ssh(1, "mkdir", "-p", cache)
        lab.write(1, path, b"an older package\n")
        old = sha256_on_vm(lab, path)
        results, out = play(lab, [
            {"meshops.istio_vm.sidecar_package_file": {"path": path, "url": missing, "sha256": sha, "retries": 2,
                                                       "delay": 0},
             "register": "r0", "ignore_errors": True},
            {"meshops.istio_vm.sidecar_package_file": {"path": path, "url": lab.cfg.pkg_url, "sha256": "0" * 64,
                                                       "retries": 3, "delay": 0},
             "register": "r1", "ignore_errors": True},
        ])
        not_found, mismatch = results["r0"], results["r1"]
        assert not_found["failed"] and not_found["msg"] == "Request failed", out[-3000:]
        assert not_found["status_code"] == 404 and not_found["attempts"] == 3
        assert mismatch["failed"] and mismatch["attempts"] == 1, "a checksum mismatch is not tried again"
        assert mismatch["msg"] == (f"The checksum of the file downloaded from {lab.cfg.pkg_url} did not match "
                                   f"{'0' * 64}; it was {sha}.")
        assert sha256_on_vm(lab, path) == old
        assert listing(lab, cache) == f"{cache} root root 755\n{path} root root 644\n", "a temporary file was left"
    finally:
        lab.ssh(1, "rm", "-rf", cache, check=False)
