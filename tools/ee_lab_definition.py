# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""execution-environment.yml for a local base image (tools/ee_base_image.sh): the same
definition with the base image replaced, apt-get as the package manager (a Debian base), and the
files it names as absolute paths, so that it can live in a build directory of its own.

    python tools/ee_lab_definition.py OUT.yml [--base-image localhost/meshops-ee-base:bookworm]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def lab_definition(definition: dict, base_image: str) -> dict:
    out = dict(definition)
    out["images"] = {"base_image": {"name": base_image}}
    # Debian disables ensurepip for its python3; the base image has python3-pip instead.
    out["options"] = dict(definition.get("options") or {}, package_manager_path="/usr/bin/apt-get",
                          skip_pip_install=True)
    deps = dict(definition["dependencies"])
    deps["python"] = str(REPO / deps["python"])
    out["dependencies"] = deps
    out["additional_build_files"] = [dict(item, src=str(REPO / item["src"]))
                                     for item in definition.get("additional_build_files", [])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--base-image", default="localhost/meshops-ee-base:bookworm")
    args = parser.parse_args()
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(lab_definition(definition, args.base_image), sort_keys=False),
                        encoding="utf-8")


if __name__ == "__main__":
    main()
