# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Ask something again until its answer will do: the one wait loop of the collection.

Standard library only, so that modules that run on a VM can ship it as well as those that talk to
the API server from the controller.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Tuple

# The shortest pause between two asks: a wait never spins.
MIN_INTERVAL = 0.1


def poll(ask: Callable[[], Any], done: Callable[[Any], bool], wait: float, interval: float,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> Tuple[Any, int]:
    """Call ``ask`` until ``done`` holds for its answer or ``wait`` seconds have passed since the
    first call, ``interval`` seconds apart (at least MIN_INTERVAL). Asks at least once, and once
    more at the end of the wait: the last pause is shortened to end with it.

    Returns the last answer and the number of asks."""
    deadline = clock() + max(wait, 0)
    interval = max(interval, MIN_INTERVAL)
    attempts = 0
    while True:
        answer = ask()
        attempts += 1
        left = deadline - clock()
        if done(answer) or left <= 0:
            return answer, attempts
        sleep(min(interval, left))
