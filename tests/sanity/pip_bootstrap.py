# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stand-in for the pip bootstrap script ansible-test downloads from outside the registries.

ansible-test creates its sanity venvs without pip and runs this file with pip's install
arguments. Bring pip from the standard library (ensurepip), then let it install what was
asked for from PyPI. `make sanity` places this where ansible-test looks for its cached copy.
"""
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)
ensurepip.bootstrap(upgrade=True)   # sets PIP_CONFIG_FILE=/dev/null in os.environ as it runs
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=env))
