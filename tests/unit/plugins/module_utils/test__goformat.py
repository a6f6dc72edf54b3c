# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import functools

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._goformat import (
    go_float_text,
    go_json,
    go_key_compare,
    go_yaml,
    go_yaml_resolve,
    shell_quote,
)


@pytest.mark.parametrize("value, expected", [
    ({"b": 1, "a": "x"}, '{"a":"x","b":1}'),
    ({"k": "<a&b>"}, '{"k":"\\u003ca\\u0026b\\u003e"}'),
    ({"k": "caf\u00e9 \u2028"}, '{"k":"caf\u00e9 \\u2028"}'),
    ({"k": "tab\there\nnl"}, '{"k":"tab\\there\\nnl"}'),
    (["x", 2], '["x",2]'),
])
def test_go_json(value, expected):
    assert go_json(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("", "''"),
    ("foo", "'foo'"),
    ("10.10.10.10", "'10.10.10.10'"),
    ("w@w,w", "w@w,w"),
    ("it's", "'it'\"'\"'s'"),
    ("*", "'*'"),
])
def test_shell_quote(value, expected):
    assert shell_quote(value) == expected


@pytest.mark.parametrize("text, expected", [
    ("true", "bool"), ("Yes", "bool"), ("off", "bool"), ("y", "bool"),
    ("", "null"), ("~", "null"), ("NULL", "null"),
    ("8080", "int"), ("-1", "int"), ("0x1F", "int"), ("0o17", "int"), ("0b101", "int"), ("1_000", "int"),
    ("1.5", "float"), ("1e3", "float"), (".5", "float"), (".inf", "float"), ("08", "float"),
    ("2001-12-14", "timestamp"), ("2001-12-14T21:59:43.10Z", "timestamp"),
    ("<<", "merge"),
    ("foo", "str"), ("0o", "str"), ("1.2.3", "str"), ("10.10.10.10", "str"), ("+inf", "str"), ("Kubernetes", "str"),
])
def test_go_yaml_resolve(text, expected):
    assert go_yaml_resolve(text) == expected


@pytest.mark.parametrize("keys, expected", [
    (["ISTIO_META_WORKLOAD_NAME", "ISTIO_METAJSON_LABELS", "CA_ADDR", "CANONICAL_SERVICE"],
     ["CA_ADDR", "CANONICAL_SERVICE", "ISTIO_META_WORKLOAD_NAME", "ISTIO_METAJSON_LABELS"]),
    (["a10", "a9", "a09", "a1"], ["a1", "a9", "a09", "a10"]),
    (["b", "a", "ab", "a_"], ["a", "a_", "ab", "b"]),
])
def test_go_key_order(keys, expected):
    assert sorted(keys, key=functools.cmp_to_key(go_key_compare)) == expected


@pytest.mark.parametrize("value, expected", [
    (5.0, "5"), (0.5, "0.5"), (-2.25, "-2.25"), (1234567.5, "1.2345675e+06"), (123456.5, "123456.5"),
    (1e-07, "1e-07"), (0.0001, "0.0001"), (1.5e-05, "1.5e-05"), (1e21, "1e+21"),
])
def test_go_float_text(value, expected):
    assert go_float_text(value) == expected


@pytest.mark.parametrize("value, expected", [
    ({"defaultConfig": {}}, "defaultConfig: {}\n"),
    ({"a": ["x", "yes"], "b": []}, 'a:\n- x\n- "yes"\nb: []\n'),
    ({"s": "line1\nline2"}, "s: |-\n  line1\n  line2\n"),
    ({"s": "{json}", "t": "", "u": "1:20", "v": "null", "w": True, "x": None, "y": 0.5, "z": 3},
     "s: '{json}'\nt: \"\"\nu: \"1:20\"\nv: \"null\"\nw: true\nx: null\n\"y\": 0.5\nz: 3\n"),
    ({"k": "caf\u00e9"}, "k: caf\u00e9\n"),
])
def test_go_yaml(value, expected):
    assert go_yaml(value) == expected
