#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sidecar_package_file
short_description: The sidecar's package file downloaded into the VM's package cache, checked, in one module run
version_added: 0.2.0
description:
  - Makes O(path) the package file whose SHA-256 is O(sha256), in one run on the VM, and reads it
    afterwards. It replaces a M(ansible.builtin.file) task for the package cache directory, a
    M(ansible.builtin.get_url) task retried with C(until), and a M(meshops.istio_vm.sidecar_package_info)
    task that reads the new file, each of which costs a round trip to the VM.
  - The directory of O(path) is created if missing (with its parents) and is owned by C(root:root),
    mode C(0755). A file that is already the one asked for is not downloaded again; it only gets owner
    C(root), group C(root) and mode C(0644).
  - Otherwise O(url) is downloaded into a temporary file in the same directory, which replaces
    O(path) only when its SHA-256 is O(sha256). Nothing is left behind by a download that fails, and
    a file that was there stays as it was.
  - A failed attempt (no answer within O(timeout), a connection error, an HTTP status other than
    200, an incomplete answer) is tried again, O(retries) times, O(delay) seconds apart. A checksum
    mismatch is never tried again, since the same file would come back. The failure names the last attempt's reason, its
    HTTP status and the number of attempts (RV(status_code), RV(attempts)).
  - Proxies are taken from the environment (C(http_proxy), C(https_proxy), C(no_proxy)), as
    M(ansible.builtin.get_url) takes them; an C(https) server's certificate is always validated.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  path:
    description:
      - The package file on the VM.
    type: path
    required: true
  url:
    description:
      - Where to download the file from (C(http), C(https) or C(ftp)).
    type: str
    required: true
  sha256:
    description:
      - The SHA-256 of the package file, 64 hex digits (either case).
    type: str
    required: true
  timeout:
    description:
      - Seconds an attempt may wait for the server (to connect, and for each read).
    type: int
    default: 60
  retries:
    description:
      - How many times a failed attempt is tried again (a checksum mismatch never is).
    type: int
    default: 3
  delay:
    description:
      - Seconds between two attempts.
    type: int
    default: 5
  format:
    description:
      - The package format, which decides how the file's version and the installed package are read
        afterwards (see M(meshops.istio_vm.sidecar_package_info)).
    type: str
    choices: [deb, rpm]
    default: deb
  name:
    description:
      - The installed package's name, read afterwards.
    type: str
    default: istio-sidecar
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Downloads and writes nothing; reports a change when the directory or the file would be created,
      replaced or get another owner, group or mode. The package read (RV(file), RV(installed)) is then that of
      the file that is there.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Owner, group and mode of the directory and the file, and the file's SHA-256 before and after (never its bytes).
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
seealso:
  - module: meshops.istio_vm.sidecar_package_info
  - module: ansible.builtin.get_url
"""

EXAMPLES = r"""
- name: Download istio-sidecar into the package cache (SHA-256 checked, retried)
  meshops.istio_vm.sidecar_package_file:
    path: /var/cache/meshops-istio-vm/istio-sidecar-1.24.0.deb
    url: https://storage.googleapis.com/istio-release/releases/1.24.0/deb/istio-sidecar.deb
    sha256: "{{ istio_sidecar_sha256 }}"
    retries: 2
  become: true
  register: sidecar_package

- name: Install the .deb when the installed version differs from the file's
  ansible.builtin.command:
    argv: [apt-get, install, --yes, /var/cache/meshops-istio-vm/istio-sidecar-1.24.0.deb]
  when: sidecar_package.installed.version != sidecar_package.file.version
  become: true
"""

RETURN = r"""
attempts:
  description: How many download attempts were made (0 when the file was already the one asked for, or in check mode).
  returned: always, and with a failed download
  type: int
  sample: 1
status_code:
  description: The HTTP status of the last failed attempt; -1 when there was no answer.
  returned: failure of the download
  type: int
  sample: 404
path:
  description: O(path).
  returned: always
  type: str
  sample: /var/cache/meshops-istio-vm/istio-sidecar-1.24.0.deb
format:
  description: O(format).
  returned: always
  type: str
  sample: deb
file:
  description: The package file after the run, as M(meshops.istio_vm.sidecar_package_info) returns it.
  returned: always
  type: dict
  sample: {"exists": true, "sha256": "9f86d0...", "version": "1:1.24.0", "depends_installed": true}
installed:
  description: The installed package, as M(meshops.istio_vm.sidecar_package_info) returns it.
  returned: always
  type: dict
  sample: {"present": false, "version": "", "query": ""}
dpkg_interrupted:
  description: Whether dpkg's journal holds a file, left by an interrupted dpkg run (C(deb) only).
  returned: always
  type: bool
  sample: false
diff:
  description: Before and after of the directory and the file (in diff mode).
  returned: changed, in diff mode
  type: list
  elements: dict
"""

import os
from http.client import HTTPException
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._files import ChecksumMismatch, Files, FilesError
from ansible_collections.meshops.istio_vm.plugins.module_utils._package import (
    DownloadFailed, read_package, with_retries)
from ansible_collections.meshops.istio_vm.plugins.module_utils._http import get

CHUNK = 1 << 20


def open_download(url, timeout):
    """The byte chunks of ``url`` (a generator), or DownloadFailed for an attempt that got no
    answer, an HTTP status other than 200 (ftp has none), a read that failed or stopped short."""
    response, info = get(url, timeout)
    # An ftp answer has no status (None): reported as -1, not checked.
    status = -1 if info.get("status") is None else int(info["status"])
    if response is None:
        raise DownloadFailed(str(info.get("msg") or "Request failed"), status)
    if status != 200 and urlsplit(url).scheme != "ftp":
        raise DownloadFailed("Request failed", status)

    # A gzip-encoded answer is decompressed (as get_url does): its Content-Length is not the size read.
    length = str(info.get("content-length") or "").strip()
    if str(info.get("content-encoding") or "").lower() == "gzip":
        length = ""

    def chunks():
        size = 0
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                size += len(chunk)
                yield chunk
        except (OSError, HTTPException) as e:
            raise DownloadFailed("Request failed: %s" % (e or type(e).__name__), status) from None
        if length.isdigit() and int(length) != size:
            raise DownloadFailed("Request failed: the server sent %d of %s bytes" % (size, length), status)
    return chunks()


def run(module):
    params = module.params
    path, url, sha256 = params["path"], params["url"], params["sha256"].lower()
    directory = os.path.dirname(path)
    if not os.path.isabs(path) or directory in ("", "/"):
        raise MeshError("path: %r is not an absolute path in a directory other than /" % path)
    files = Files(module.check_mode, after_write=(lambda written: module.set_default_selinux_context(written, False))
                  if module.selinux_enabled() else None)
    files.directory(directory, "root", "root", "0755")

    fetches = []

    def fetch():
        fetches.append(url)
        return open_download(url, params["timeout"])

    def attempt():
        try:
            files.fetched(path, sha256, fetch, "root", "root", "0644")
        except ChecksumMismatch as e:
            raise DownloadFailed("The checksum of the file downloaded from %s did not match %s; it was %s."
                                 % (url, e.wanted, e.got), 200, retry=False) from None

    with_retries(attempt, params["retries"], params["delay"])
    result = {"changed": files.changed, "path": path, "format": params["format"], "attempts": len(fetches)}
    # Outside a dry run the file is now the one asked for: fetched() verified its SHA-256.
    result.update(read_package(module, path, params["format"] == "deb", params["name"],
                               None if module.check_mode else sha256))
    if module._diff:
        result["diff"] = files.diff
    return result


def main():
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True},
                       "url": {"type": "str", "required": True},
                       "sha256": {"type": "str", "required": True},
                       "timeout": {"type": "int", "default": 60},
                       "retries": {"type": "int", "default": 3},
                       "delay": {"type": "int", "default": 5},
                       "format": {"type": "str", "choices": ["deb", "rpm"], "default": "deb"},
                       "name": {"type": "str", "default": "istio-sidecar"}},
        supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except MeshError as e:
        module.fail_json(msg=e.message, **e.details)
    except (FilesError, OSError) as e:
        module.fail_json(msg="Failed to set up the sidecar's package file: %s" % e)


if __name__ == "__main__":
    main()
