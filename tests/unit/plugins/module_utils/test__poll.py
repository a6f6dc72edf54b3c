# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one wait loop (_poll.poll), on a clock of its own: no test here sleeps."""
from __future__ import annotations

from ansible_collections.meshops.istio_vm.plugins.module_utils._poll import MIN_INTERVAL, poll
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.fake_clock import Clock


def run(clock, done, wait, interval):
    return poll(clock.ask, done, wait, interval, clock=clock.clock, sleep=clock.sleep)


def test_stops_at_the_first_answer_that_will_do():
    clock = Clock()
    assert run(clock, lambda now: now >= 2, 60, 1) == (2, 3)
    assert clock.asked == [0, 1, 2] and clock.slept == [1, 1]


def test_asks_once_without_a_wait_or_when_the_first_answer_will_do():
    assert run(Clock(), lambda now: False, 0, 1) == (0, 1)
    assert run(Clock(), lambda now: False, -5, 1) == (0, 1)
    assert run(Clock(), lambda now: True, 60, 1) == (0, 1)


def test_asks_once_more_at_the_end_of_the_wait():
    clock = Clock()
    assert run(clock, lambda now: False, 2.5, 1) == (2.5, 4)
    assert clock.asked == [0, 1, 2, 2.5] and clock.slept == [1, 1, 0.5]


def test_counts_the_time_an_ask_takes():
    clock = Clock(takes=2)
    assert run(clock, lambda now: False, 5, 1) == (5, 2)
    assert clock.asked == [0, 3]


def test_never_spins():
    for interval in (0, 0.01, -1):
        clock = Clock()
        assert run(clock, lambda now: False, 0.25, interval)[1] == 4
        assert clock.slept[:2] == [MIN_INTERVAL, MIN_INTERVAL] and len(clock.slept) == 3
