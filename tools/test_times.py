# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where the time of `make test` went: seconds and test count per test file, from the JUnit
report it writes (tests/output/junit.xml), largest first. Setup and teardown of fixtures count
with the test that ran them.

    python tools/test_times.py [tests/output/junit.xml]
"""
from __future__ import annotations

import argparse
import collections
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def per_file(root: ET.Element) -> list[tuple[str, float, int]]:
    """[(test file, seconds, tests)], the slowest file first."""
    seconds: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for case in root.iter("testcase"):
        name = case.get("classname", "").split(".")
        path = "/".join(name[:-1] if name[-1][:1].isupper() else name) + ".py"
        seconds[path] += float(case.get("time") or 0)
        counts[path] += 1
    return sorted(((p, seconds[p], counts[p]) for p in seconds), key=lambda row: -row[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=Path("tests/output/junit.xml"))
    args = parser.parse_args(argv)
    rows = per_file(ET.parse(args.report).getroot())
    total = sum(row[1] for row in rows)
    for path, secs, count in rows:
        print(f"{secs:8.1f} s {count:5d}  {path}")
    print(f"{total:8.1f} s {sum(row[2] for row in rows):5d}  total ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
