# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meshops.istio_vm.sidecar_files on a lab VM, in a scratch directory (the sidecar is not touched):
check mode writes nothing, apply, then nothing to do, read back over SSH (content, owner, group,
mode); a hosts block that ansible.builtin.blockinfile wrote converges without a second block;
force=false keeps an existing file; a new token replaces the old one and never shows at -vvv."""
from __future__ import annotations

import subprocess
import uuid

from ansible_run import ANSIBLE_PLAYBOOK, vm_play as play

MARKER = "# {mark} meshops.istio_vm istiod"
BLOCK = "10.213.0.1 istiod.istio-system.svc"


def test_sidecar_files_ladder_on_a_vm(lab, tmp_path):
    scratch = f"/tmp/meshops-sidecar-files-{uuid.uuid4().hex[:8]}"
    token_old, token_new = f"tkn.{uuid.uuid4().hex}.old", f"tkn.{uuid.uuid4().hex}.new"
    (tmp_path / "cluster.env").write_text("CANONICAL_SERVICE='ratings'\n")
    (tmp_path / "root-cert.pem").write_text("new root\n")
    (tmp_path / "istio-token").write_text(token_old)
    args = {
        "directories": [{"path": f"{scratch}/certs", "owner": "nobody", "group": "nogroup", "mode": "0755"},
                        {"path": f"{scratch}/tokens", "owner": "nobody", "group": "nogroup", "mode": "0700"}],
        "files": [{"src": str(tmp_path / "cluster.env"), "dest": f"{scratch}/cluster.env",
                   "owner": "root", "group": "nogroup", "mode": "0640"},
                  {"src": str(tmp_path / "root-cert.pem"), "dest": f"{scratch}/certs/root-cert.pem", "force": False,
                   "owner": "nobody", "group": "nogroup", "mode": "0640"},
                  {"content": "[Service]\nExecStartPre=/bin/true\n", "dest": f"{scratch}/10-dropin.conf",
                   "owner": "root", "group": "root", "mode": "0644"}],
        "token": {"src": str(tmp_path / "istio-token"), "dest": f"{scratch}/tokens/istio-token",
                  "owner": "nobody", "group": "nogroup", "mode": "0600"},
        "block": {"path": f"{scratch}/hosts", "marker": MARKER, "block": BLOCK},
        "absent": [f"{scratch}/20-gone.conf"],
    }
    task = {"meshops.istio_vm.sidecar_files": args}
    try:
        # A VM set up before: the block written by blockinfile, a root certificate the agent rewrote.
        lab.ssh(1, "mkdir", "-p", f"{scratch}/certs")
        lab.write(1, f"{scratch}/hosts", b"127.0.0.1 localhost\n")
        lab.write(1, f"{scratch}/certs/root-cert.pem", b"agent's root\n")
        lab.ssh(1, "chmod", "0600", f"{scratch}/certs/root-cert.pem")
        lab.write(1, f"{scratch}/20-gone.conf", b"x\n")
        before = play(lab, [{"ansible.builtin.blockinfile": {"path": f"{scratch}/hosts", "marker": MARKER,
                                                             "block": BLOCK}, "register": "r0"}])[0]
        assert before["r0"]["changed"]
        listing = lab.ssh(1, "find", scratch, "-printf", r"%p %u %m\n").stdout

        checked = play(lab, [dict(task, register="r0")], "--check")[0]
        assert checked["r0"]["changed"] and not checked["r0"]["paths"][f"{scratch}/hosts"]["changed"]
        assert lab.ssh(1, "find", scratch, "-printf", r"%p %u %m\n").stdout == listing, "check mode wrote on the VM"

        results, out = play(lab, [dict(task, register="r0"), dict(task, register="r1", check_mode=True),
                                  dict(task, register="r2")], "-vvv")
        assert [results[r]["changed"] for r in ("r0", "r1", "r2")] == [True, False, False]
        assert {path: entry["changed"] for path, entry in results["r0"]["paths"].items()} == {
            f"{scratch}/certs": True, f"{scratch}/tokens": True, f"{scratch}/cluster.env": True,
            f"{scratch}/certs/root-cert.pem": False, f"{scratch}/10-dropin.conf": True,
            f"{scratch}/tokens/istio-token": True, f"{scratch}/hosts": False, f"{scratch}/20-gone.conf": True}
        assert out.count(token_old) == 0, "the token was printed"

        def attrs(path):
            return lab.ssh(1, "stat", "-c", "%U %G %a", path).stdout.split()

        assert attrs(f"{scratch}/certs") == ["nobody", "nogroup", "755"]
        assert attrs(f"{scratch}/tokens") == ["nobody", "nogroup", "700"]
        assert attrs(f"{scratch}/cluster.env") == ["root", "nogroup", "640"]
        assert attrs(f"{scratch}/tokens/istio-token") == ["nobody", "nogroup", "600"]
        assert attrs(f"{scratch}/certs/root-cert.pem") == ["root", "root", "600"], "force=false touched the file"
        assert lab.ssh(1, "cat", f"{scratch}/certs/root-cert.pem").stdout == "agent's root\n"
        assert lab.ssh(1, "cat", f"{scratch}/cluster.env").stdout == "CANONICAL_SERVICE='ratings'\n"
        assert lab.ssh(1, "cat", f"{scratch}/tokens/istio-token").stdout == token_old
        assert lab.ssh(1, "grep", "-c", "BEGIN meshops.istio_vm istiod", f"{scratch}/hosts").stdout.strip() == "1"
        assert lab.ssh(1, "test", "-e", f"{scratch}/20-gone.conf", check=False).returncode != 0
        # The file's owner cannot change what root reads: not writable by it, and a rename is atomic.
        assert lab.ssh(1, "su", "-s", "/bin/sh", "nobody", "-c", f"test -w {scratch}/cluster.env",
                       check=False).returncode != 0
        assert lab.ssh(1, "sh", "-c", f"ls -A {scratch} {scratch}/tokens | grep -c '^\\.' || true").stdout.strip() == "0"

        # A new token: replaced, only its directory's owner kept; the diff says so without it.
        (tmp_path / "istio-token").write_text(token_new)
        lab.ssh(1, "chmod", "0644", f"{scratch}/tokens/istio-token")
        renewed, out = play(lab, [dict(task, register="r0")], "-vvv")
        assert renewed["r0"]["changed"]
        assert [path for path, entry in renewed["r0"]["paths"].items() if entry["changed"]] == \
            [f"{scratch}/tokens/istio-token"]
        assert lab.ssh(1, "cat", f"{scratch}/tokens/istio-token").stdout == token_new
        assert attrs(f"{scratch}/tokens/istio-token") == ["nobody", "nogroup", "600"]
        assert out.count(token_new) == 0 and out.count(token_old) == 0, "a token was printed"
        assert "(new content, not shown)" in out
    finally:
        lab.ssh(1, "rm", "-rf", scratch, check=False)


def test_a_vault_encrypted_token_reaches_the_vm_and_no_decrypted_copy_stays_on_the_controller(lab, tmp_path):
    """A token kept in Ansible Vault on the controller: the VM gets the plain token (not the vault
    text), nothing prints it, and no decrypted copy stays in the controller's local temporary
    directory after the task (the action plugin removes it right after reading it; Ansible's own
    clean-up at the end of the task would too)."""
    scratch = f"/tmp/meshops-sidecar-files-{uuid.uuid4().hex[:8]}"
    token = f"tkn.{uuid.uuid4().hex}.vaulted"
    (tmp_path / "istio-token").write_text(token)
    (tmp_path / "vault-pass").write_text(uuid.uuid4().hex)
    subprocess.run([str(ANSIBLE_PLAYBOOK.parent / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(tmp_path / "vault-pass"), str(tmp_path / "istio-token")], check=True, capture_output=True)
    assert token not in (tmp_path / "istio-token").read_text()
    tasks = [
        {"meshops.istio_vm.sidecar_files": {
            "directories": [{"path": scratch, "mode": "0700"}],
            "token": {"src": str(tmp_path / "istio-token"), "dest": f"{scratch}/istio-token", "mode": "0600"}},
         "register": "r0"},
        {"ansible.builtin.find": {"paths": "{{ lookup('ansible.builtin.config', 'DEFAULT_LOCAL_TMP') }}",
                                  "recurse": True, "hidden": True, "contains": token.replace(".", r"\.")},
         "delegate_to": "localhost", "become": False, "register": "r1"},
    ]
    try:
        results, out = play(lab, tasks, "--vault-password-file", str(tmp_path / "vault-pass"))
        assert results["r0"]["changed"], out[-3000:]
        assert lab.ssh(1, "cat", f"{scratch}/istio-token").stdout == token
        assert results["r1"]["matched"] == 0, results["r1"]["files"]
        assert token not in out
    finally:
        lab.ssh(1, "rm", "-rf", scratch, check=False)
