# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""path_problem: paths that reach recursive deletes, root-run unit lines or a shell."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.path_problem import path_problem


@pytest.mark.parametrize("path", ["/var/lib/istio/tokens/istio-token", "/var/cache/meshops-istio-vm",
                                  "/srv/mesh/bootstrap/ratings-vm-1", "/opt/a.b_c+d@e=g:h,i-j",
                                  "/work/main/playbooks/../.bootstrap/mlab-vm1"])
def test_good(path):
    assert path_problem(path) == ""


@pytest.mark.parametrize("path,problem", [
    (None, "must be a non-empty path"), ("", "must be a non-empty path"), (5, "must be a non-empty path"),
    ("var/cache", "is not an absolute path"), ("~/x", "is not an absolute path"),
    ("/", "is the root directory"), ("//", "is the root directory"), ("/./", "is the root directory"),
    ("/var/../", "is the root directory"), ("/var/..", "is the root directory"),
    ("/var/lib/x; rm -rf /", "shell metacharacters"), ("/var/lib/a b", "white space"),
    ("/var/$(id)", "shell metacharacters"), ("/var/`id`", "shell metacharacters"), ("/var/x\n", "white space"),
    ("/var/*", "shell metacharacters"), ("/var/a'b", "shell metacharacters"),
    # systemd expands % specifiers in the drop-in's ExecStartPre: %i, %h, %% would not be the path written
    ("/var/lib/istio/tokens/tok%i", "systemd % specifier"), ("/var/lib/istio/%h/istio-token", "systemd % specifier"),
])
def test_bad(path, problem):
    assert problem in path_problem(path)
