# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Text encodings that match what istioctl (a Go program) writes, byte for byte where it matters.

- ``go_json``: Go's ``encoding/json`` for maps/lists/strings/ints: compact, map keys sorted,
  ``<``, ``>``, ``&``, U+2028 and U+2029 escaped.
- ``shell_quote``: istio's ``pkg/util/shellescape.Quote``. Its "safe" character class is written
  ``[^\\\\w@%+=:,./-]`` in a Go raw string, i.e. a literal backslash and a literal ``w`` -- so in
  practice almost every value gets single quotes (``'foo'``, ``'10.10.10.10'``), as in the golden files.
  One difference: a value with a backslash is always quoted (istio leaves ``\\`` bare, and one at
  the end of a line of cluster.env would join the next line to it).
- ``go_yaml``: ``sigs.k8s.io/yaml.Marshal`` (JSON, then go-yaml v2): keys in go-yaml's "natural"
  order, 2-space indent, sequences not indented inside mappings, strings that would read back as
  another type in double quotes, multi-line strings as literal blocks, lines folded at 80 columns.
"""

from __future__ import annotations

import math

import functools
import json
import re
import unicodedata
from decimal import Decimal
from typing import Any, Optional, Tuple

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is a requirement of the collection
    yaml = None

_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SHELL_UNSAFE = re.compile(r"[^\\w@%+=:,./-]")  # same (odd) class as istio's Go regexp, see module doc


def go_json(value: Any) -> str:
    """``json.Marshal`` of a Go map/slice/string/int value (map keys sorted by bytes)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return "".join(_GO_JSON_ESCAPES.get(char, char) for char in text)


def shell_quote(value: str) -> str:
    """istio's shellescape.Quote, except that a backslash is always quoted: left bare, one at the
    end of a value joins the next line of cluster.env to it (and hides that variable)."""
    if value == "":
        return "''"
    if _SHELL_UNSAFE.search(value) or "\\" in value:
        return "'" + value.replace("'", "'\"'\"'") + "'"
    return value


# --- go-yaml v2 scalar resolution (what a plain scalar would read back as) -----------------------

_BOOL_WORDS = frozenset("y Y yes Yes YES true True TRUE on On ON n N no No NO false False FALSE off Off OFF".split())
_NULL_WORDS = frozenset(["", "~", "null", "Null", "NULL"])
_FLOAT_WORDS = frozenset(".nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF".split())
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_INT = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0(?:[oO][0-7]+|[0-7]*)|0[bB][01]+|[1-9][0-9]*)$")
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
    r"| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?$"
)


def go_yaml_resolve(text: str) -> str:
    """The tag go-yaml v2 gives ``text`` as a plain scalar: str, bool, null, int, float, timestamp, merge."""
    if text in _BOOL_WORDS:
        return "bool"
    if text in _NULL_WORDS:
        return "null"
    if text in _FLOAT_WORDS:
        return "float"
    if text == "<<":
        return "merge"
    first = text[0]
    if first == "." and _YAML_FLOAT.match(text):
        return "float"
    if first in "+-0123456789":
        if _TIMESTAMP.match(text):
            return "timestamp"
        plain = text.replace("_", "")
        if _GO_INT.match(plain):
            return "int"
        if _YAML_FLOAT.match(plain):
            return "float"
    return "str"


def _needs_quotes(text: str) -> bool:
    return go_yaml_resolve(text) != "str" or _BASE60_FLOAT.match(text) is not None


# --- go-yaml v2 map key order ---------------------------------------------------------------------

def _is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def _digits_value(text: str, start: int) -> Tuple[int, int]:
    end, number = start, 0
    while end < len(text) and _is_digit(text[end]):
        number = number * 10 + ord(text[end]) - ord("0")
        end += 1
    return number, end


def go_key_compare(a: str, b: str) -> int:
    """go-yaml v2's keyList.Less for string keys: letters after non-letters, digit runs by value."""
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca == cb:
            continue
        letter_a, letter_b = ca.isalpha(), cb.isalpha()
        if letter_a and letter_b:
            return -1 if ca < cb else 1
        if letter_a or letter_b:
            return -1 if letter_b else 1
        number_a = number_b = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    number_a = number_b = 1
                    break
                j -= 1
        value_a, end_a = _digits_value(a, i)
        value_b, end_b = _digits_value(b, i)
        number_a = number_a * 10 ** (end_a - i) + value_a
        number_b = number_b * 10 ** (end_b - i) + value_b
        if number_a != number_b:
            return -1 if number_a < number_b else 1
        if end_a != end_b:
            return -1 if end_a < end_b else 1
        return -1 if ca < cb else 1
    return (len(a) > len(b)) - (len(a) < len(b))


# --- numbers as they come out of Go's JSON -> go-yaml round trip ---------------------------------

def go_float_text(value: float) -> str:
    """A float as sigs.k8s.io/yaml writes it: integral values as ints (the JSON step), else %g-shortest."""
    if math.isnan(value) or value in (float("inf"), float("-inf")):
        raise MeshError("mesh.yaml cannot hold %r (not representable in JSON)" % (value,))
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    digits = Decimal(repr(value)).normalize()
    sign, mantissa_digits, exponent = digits.as_tuple()
    mantissa = "".join(str(d) for d in mantissa_digits)
    point = len(mantissa) + exponent  # position of the decimal point
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:  # Go's 'g' with shortest precision uses %e outside [-4, 6)
        body = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        return "%s%se%s%02d" % (prefix, body, "-" if exp10 < 0 else "+", abs(exp10))
    if point <= 0:
        return "%s0.%s%s" % (prefix, "0" * -point, mantissa)
    if point >= len(mantissa):
        return prefix + mantissa + "0" * (point - len(mantissa))
    return "%s%s.%s" % (prefix, mantissa[:point], mantissa[point:])


# --- the dumper -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _dumper() -> Any:
    if yaml is None:
        raise MeshError("PyYAML is required to write mesh.yaml")

    class GoYamlDumper(yaml.SafeDumper):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0]:
                return "tag:yaml.org,2002:" + go_yaml_resolve(value)
            return super().resolve(kind, value, implicit)

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: Any, data: str) -> Any:
        style: Optional[str] = None
        if "\n" in data:
            style = "|"
        elif _needs_quotes(data):
            style = '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    def represent_dict(dumper: Any, data: Any) -> Any:
        keys = sorted((str(k) for k in data), key=functools.cmp_to_key(go_key_compare))
        by_text = {str(k): v for k, v in data.items()}
        return dumper.represent_mapping("tag:yaml.org,2002:map", [(k, by_text[k]) for k in keys])

    def represent_float(dumper: Any, data: float) -> Any:
        text = go_float_text(data)
        return dumper.represent_scalar("tag:yaml.org,2002:" + go_yaml_resolve(text), text)

    GoYamlDumper.add_representer(str, represent_str)
    GoYamlDumper.add_representer(dict, represent_dict)
    GoYamlDumper.add_representer(float, represent_float)
    return GoYamlDumper


def go_yaml(value: Any) -> str:
    """``sigs.k8s.io/yaml.Marshal(value)`` for JSON-like data."""
    return yaml.dump(value, Dumper=_dumper(), default_flow_style=False, indent=2, width=80, allow_unicode=True,
                     sort_keys=False)
