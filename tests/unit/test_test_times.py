# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tools/test_times.py: seconds per test file from the JUnit report of `make test`."""
from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("test_times", REPO / "tools" / "test_times.py")
test_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(test_times)

REPORT = """<testsuites><testsuite name="pytest">
<testcase classname="tests.integration.test_onboard" name="test_a" time="10.5"/>
<testcase classname="tests.integration.test_onboard" name="test_b" time="2"/>
<testcase classname="tests.unit.plugins.test_x.TestThing" name="test_c" time="0.25"/>
<testcase classname="tests.unit.plugins.test_x" name="test_d" time=""/>
<testcase classname="tests.static.test_sanity" name="test_e" time="30"/>
</testsuite></testsuites>"""


def test_per_file_sums_tests_and_classes_of_one_file_slowest_first():
    assert test_times.per_file(ET.fromstring(REPORT)) == [
        ("tests/static/test_sanity.py", 30.0, 1),
        ("tests/integration/test_onboard.py", 12.5, 2),
        ("tests/unit/plugins/test_x.py", 0.25, 2),
    ]


def test_main_prints_the_total(tmp_path, capsys):
    report = tmp_path / "junit.xml"
    report.write_text(REPORT)
    assert test_times.main([str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["30.0", "s", "1", "tests/static/test_sanity.py"]
    assert out[-1].split()[:4] == ["42.8", "s", "5", "total"]
