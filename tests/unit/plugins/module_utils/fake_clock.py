# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A clock of the tests' own for the wait loops (_poll.poll and what is built on it): no test sleeps."""
from __future__ import annotations


class Clock:
    """Time that passes only when slept or when an ask takes ``takes`` seconds. ``ask`` records when
    it was called and returns ``answer()`` (the time after the ask); ``sleep`` records each pause."""

    def __init__(self, takes=0.0):
        self.now, self.takes = 0.0, takes
        self.asked, self.slept = [], []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def ask(self):
        assert len(self.asked) < 1000, "the loop spins"
        self.asked.append(self.now)
        self.now += self.takes
        return self.answer()

    def answer(self):
        return self.now
