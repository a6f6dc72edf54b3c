# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""lookup run_holder: the run's name that mesh_lock's stale check parses back (_lock.run_gone)."""
from __future__ import annotations

import os
import re
import socket

import pytest
from ansible.errors import AnsibleError

from ansible_collections.meshops.istio_vm.plugins.lookup.run_holder import LookupModule
from ansible_collections.meshops.istio_vm.plugins.module_utils import _lock

NAME = re.compile(r"^(ansible-playbook|awx job 7) on (\S+) pid (\d+) in ([0-9a-f]{16}) "
                  r"started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ run [0-9a-f]{8}$")


def test_names_this_controller_and_the_parent_process():
    (name,) = LookupModule().run([], {})
    match = NAME.match(name)
    assert match and match.group(1) == "ansible-playbook", name
    assert match.group(2) == socket.gethostname() and int(match.group(3)) == os.getppid()
    here = _lock.this_process_space()
    assert match.group(4) == here
    # mesh_lock reads it back: the parent process is alive, so the run is not gone
    assert not _lock.run_gone(name, socket.gethostname(), here, lambda pid: os.path.exists(f"/proc/{pid}"))
    assert _lock.run_gone(name, socket.gethostname(), here, lambda pid: False)
    # a process of that number in another PID namespace (a container named like this host) is not it
    elsewhere = _lock.process_space("another boot", "pid:[1]")
    assert not _lock.run_gone(name, socket.gethostname(), elsewhere, lambda pid: False)


def test_an_awx_job_and_a_new_token_per_call():
    first, = LookupModule().run([], {}, job="7")
    second, = LookupModule().run([], {}, job="7")
    assert NAME.match(first) and first.startswith("awx job 7 on ")
    assert first.split(" run ")[1] != second.split(" run ")[1]


def test_refuses_terms_and_unknown_options():
    with pytest.raises(AnsibleError, match="only the option job, not x, pid"):
        LookupModule().run(["x"], {}, pid="1")
