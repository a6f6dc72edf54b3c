# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Shared, pure value checks (Kubernetes names and labels, IPs, CIDRs, ports, host names).

Each ``check_*`` returns ``None`` when the value is fine, else a short description of the broken
rule (no option path). ``check_labels`` / ``check_annotations`` / ``check_selector`` return a list
of ``"<path>: <rule>"`` strings. The rules follow the Kubernetes apiserver (object metadata), the
Istio 1.30 CRD schemas (``manifests/charts/base/files/crd-all.gen.yaml``) and istiod's webhook
(``pkg/config/validation``).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any, List, Mapping, Optional, Tuple

PORT_MIN = 1
PORT_MAX = 65535
UINT32_MAX = 4294967295
INT32_MAX = 2147483647
UNIX_PREFIX = "unix://"

_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile(r"^%s\Z" % _DNS1123_LABEL)
_DNS1123_SUBDOMAIN_RE = re.compile(r"^%s(?:\.%s)*\Z" % (_DNS1123_LABEL, _DNS1123_LABEL))
_DNS1035_LABEL_RE = re.compile(r"^[a-z](?:[-a-z0-9]*[a-z0-9])?\Z")
# Kubernetes IsValidPortName (IANA_SVC_NAME): named container / target ports.
_IANA_SVC_NAME_RE = re.compile(r"^[-a-z0-9]+\Z")
# Istio's DNS-1123 label (port names, host name labels, namespaces in Sidecar hosts) allows upper case.
_ISTIO_LABEL_RE = re.compile(r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?\Z")
_ISTIO_WILDCARD_LABEL_RE = re.compile(r"^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)\Z")
_QUALIFIED_NAME_RE = re.compile(r"^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE_RE = re.compile(r"^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_SIMPLE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")
# Characters of a path that a role may hand to a recursive delete, a root-run unit line or a shell
# (no '%': systemd expands % specifiers in unit lines, so "tok%i" would not be the path written).
_SAFE_PATH_RE = re.compile(r"[A-Za-z0-9._+@=:,/-]+")
# Directories a role must never own (chown, chmod 0700) or delete recursively: they are the system's,
# shared with other software. Any directory with fewer than 3 components is refused as well.
SYSTEM_DIRECTORIES = frozenset((
    "/", "/etc", "/var", "/usr", "/opt", "/home", "/root", "/tmp", "/srv", "/run", "/boot", "/dev", "/proc",
    "/sys", "/mnt", "/media", "/bin", "/sbin", "/lib", "/lib64",
    "/var/lib", "/var/run", "/var/cache", "/var/tmp", "/var/log", "/var/spool", "/var/opt", "/var/local",
    "/var/mail", "/var/lock", "/var/lib/dpkg", "/var/lib/rpm", "/var/lib/apt", "/var/lib/dnf",
    "/var/lib/systemd", "/var/cache/apt", "/var/cache/dnf", "/var/cache/yum", "/var/run/secrets",
    "/run/secrets", "/run/user", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec",
    "/usr/share", "/usr/include", "/usr/src", "/usr/local", "/usr/local/bin", "/usr/local/sbin",
    "/usr/local/lib", "/usr/local/share", "/usr/local/etc", "/usr/local/src", "/usr/local/include",
    "/etc/systemd", "/etc/systemd/system", "/etc/ssh", "/etc/ssl", "/etc/ssl/certs", "/etc/pki",
    "/etc/pki/tls", "/etc/default", "/etc/sysconfig", "/etc/security", "/etc/sudoers.d", "/etc/cron.d",
    "/etc/apt", "/etc/yum.repos.d",
    # the sidecar's own directories (roles/vm_sidecar/vars/main.yml sets their owner and mode)
    "/etc/istio", "/etc/istio/proxy", "/etc/istio/config", "/etc/certs", "/var/lib/istio", "/var/lib/istio/envoy",
    "/etc/systemd/system/istio.service.d",
))
OWNED_DIR_MIN_COMPONENTS = 3


def join_key(path: str, key: Any) -> str:
    """Path of a map entry: ``ports.http``, or ``labels["app.kubernetes.io/name"]`` for odd keys."""
    key = str(key)
    if _SIMPLE_KEY_RE.match(key):
        return "%s.%s" % (path, key) if path else key
    return '%s["%s"]' % (path, key)


def join_index(path: str, index: int) -> str:
    return "%s[%d]" % (path, index)


def as_int(value: Any) -> Optional[int]:
    """An int from an int or a decimal string (Jinja often renders numbers as text); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^[+-]?[0-9]+\Z", value.strip()):
        return int(value.strip())
    return None


def check_int_range(value: Any, low: int, high: int) -> Optional[str]:
    number = as_int(value)
    if number is None:
        return "%r is not an integer" % (value,)
    if not low <= number <= high:
        return "%d is not in %d..%d" % (number, low, high)
    return None


def check_port(value: Any) -> Optional[str]:
    return check_int_range(value, PORT_MIN, PORT_MAX)


def check_string(value: Any, max_length: Optional[int] = None) -> Optional[str]:
    if not isinstance(value, str):
        return "%r is not a string" % (value,)
    if max_length is not None and len(value) > max_length:
        return "is %d characters long, the limit is %d" % (len(value), max_length)
    return None


def check_dns1123_label(value: Any) -> Optional[str]:
    """Kubernetes namespace names: lower case RFC 1123 label, at most 63 characters."""
    problem = check_string(value, 63)
    if problem:
        return problem
    if not _DNS1123_LABEL_RE.match(value):
        return "%r is not a DNS-1123 label (lower case alphanumerics and '-', starting and ending alphanumeric)" % (value,)
    return None


def check_dns1123_subdomain(value: Any) -> Optional[str]:
    """Kubernetes object names: lower case RFC 1123 subdomain, at most 253 characters."""
    problem = check_string(value, 253)
    if problem:
        return problem
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        return "%r is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.')" % (value,)
    return None


def check_dns1035_label(value: Any) -> Optional[str]:
    """Kubernetes Service names: lower case RFC 1035 label (starts with a letter), at most 63 characters."""
    problem = check_string(value, 63)
    if problem:
        return problem
    if not _DNS1035_LABEL_RE.match(value):
        return ("%r is not a DNS-1035 label (lower case alphanumerics and '-', starting with a letter and "
                "ending alphanumeric)" % (value,))
    return None


def check_iana_svc_name(value: Any) -> Optional[str]:
    """Kubernetes port names that a number may stand for (IANA_SVC_NAME, ``targetPort``): at most 15
    lower case alphanumerics and '-', at least one letter, no '--', not starting or ending with '-'."""
    problem = check_string(value, 15)
    if problem:
        return "port name %r %s" % (value, problem) if isinstance(value, str) else problem
    rules = []
    if not _IANA_SVC_NAME_RE.match(value):
        rules.append("only lower case alphanumerics and '-'")
    if not re.search(r"[a-z]", value):
        rules.append("at least one letter")
    if "--" in value:
        rules.append("no '--'")
    if value.startswith("-") or value.endswith("-"):
        rules.append("no '-' at either end")
    if rules:
        return "port name %r must have %s (IANA service name)" % (value, ", ".join(rules))
    return None


def _qualified_name_part(value: Any) -> Optional[str]:
    """Which part of a Kubernetes qualified name ``[<DNS-1123 subdomain>/]<name>`` is wrong:
    "empty", "prefix", "name", or None when it is a qualified name."""
    if not isinstance(value, str) or not value:
        return "empty"
    prefix, sep, name = value.rpartition("/")
    if sep and (not prefix or check_dns1123_subdomain(prefix)):
        return "prefix"
    if len(name) > 63 or not _QUALIFIED_NAME_RE.match(name):
        return "name"
    return None


def check_qualified_name(value: Any) -> Optional[str]:
    """Kubernetes qualified names (``appProtocol``, label keys): ``[<DNS-1123 subdomain>/]<name>``,
    the name at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric."""
    part = _qualified_name_part(value)
    if part is None:
        return None
    return {
        "empty": "%r is not a non-empty string",
        "prefix": "%r has an invalid prefix (must be a DNS-1123 subdomain of at most 253 characters)",
        "name": "%r is not a qualified name ([prefix/]name, the name at most 63 alphanumerics, '-', '_' or '.', "
                "starting and ending alphanumeric)",
    }[part] % (value,)


def check_port_name(value: Any, max_length: int = 62) -> Optional[str]:
    """Istio port names: ``^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`` (istiod's DNS-1123 label).

    Map keys of WorkloadEntry ``ports`` must be shorter than 63 (CRD rule, the default here); names
    of ServiceEntry and Sidecar ports may have 63 characters (istiod's label limit).
    """
    problem = check_string(value)
    if problem:
        return problem
    if len(value) > max_length:
        return "port name %r is longer than %d characters" % (value, max_length)
    if not _ISTIO_LABEL_RE.match(value):
        return "port name %r must match ^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$" % (value,)
    return None


def check_label_key(key: Any) -> Optional[str]:
    """Kubernetes label / annotation key: ``[<DNS-1123 subdomain>/]<qualified name of at most 63>``."""
    part = _qualified_name_part(key)
    if part is None:
        return None
    return {
        "empty": "key %r is not a non-empty string",
        "prefix": "key %r has an invalid prefix (must be a DNS-1123 subdomain of at most 253 characters)",
        "name": "key %r: name part must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
    }[part] % (key,)


def check_label_value(value: Any) -> Optional[str]:
    if not isinstance(value, str):
        return "value %r is not a string" % (value,)
    if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        return ("value %r must be empty or at most 63 alphanumerics, '-', '_' or '.', "
                "starting and ending alphanumeric" % (value,))
    return None


def _check_mapping(path: str, value: Any, max_items: int) -> Optional[str]:
    if not isinstance(value, Mapping):
        return "%s: must be a dict" % path
    if len(value) > max_items:
        return "%s: has %d entries, the limit is %d" % (path, len(value), max_items)
    return None


def check_labels(path: str, labels: Any, max_items: int = 256) -> List[str]:
    """Labels (object metadata or Istio spec labels): Kubernetes rules on keys and values."""
    problem = _check_mapping(path, labels, max_items)
    if problem:
        return [problem]
    errors = []
    for key, value in labels.items():
        for check in (check_label_key(key), check_label_value(value)):
            if check:
                errors.append("%s: %s" % (join_key(path, key), check))
    return errors


def check_annotations(path: str, annotations: Any, max_items: int = 256) -> List[str]:
    """Annotations: keys as label keys (the apiserver lower-cases before checking), values strings."""
    problem = _check_mapping(path, annotations, max_items)
    if problem:
        return [problem]
    errors = []
    for key, value in annotations.items():
        check = check_label_key(key.lower() if isinstance(key, str) else key)
        if check:
            errors.append("%s: %s" % (join_key(path, key), check))
        if not isinstance(value, str):
            errors.append("%s: value %r is not a string (quote it)" % (join_key(path, key), value))
    return errors


def check_selector(path: str, labels: Any) -> List[str]:
    """Istio workloadSelector labels: no empty key, no '*' (istiod), values at most 63 (CRD)."""
    problem = _check_mapping(path, labels, 256)
    if problem:
        return [problem]
    errors = []
    for key, value in labels.items():
        entry = join_key(path, key)
        if not isinstance(key, str) or key == "":
            errors.append("%s: empty key is not supported in a selector" % entry)
        elif "*" in key:
            errors.append("%s: wildcard is not supported in a selector" % entry)
        problem = check_string(value, 63)
        if problem:
            errors.append("%s: %s" % (entry, problem))
        elif "*" in value:
            errors.append("%s: wildcard is not supported in a selector" % entry)
    return errors


def check_path(value: Any) -> Optional[str]:
    """A path a role deletes recursively, writes as root or puts in a unit line: a non-empty absolute
    path, not the root directory (nor anything that normalizes to it), only letters, digits and
    ``. _ - + @ = : , /`` (no white space, no shell metacharacters, no systemd ``%`` specifier)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty path, got %r" % (value,)
    if not value.startswith("/"):
        return "%r is not an absolute path" % value
    if not _SAFE_PATH_RE.fullmatch(value):
        return "%r has characters other than letters, digits and . _ - + @ = : , / (white space, shell " \
               "metacharacters or a systemd %% specifier)" % value
    if posixpath.normpath(value) in ("/", "//"):
        return "%r is the root directory" % value
    return None


def path_within(path: str, directory: str) -> bool:
    """Whether the normalized ``path`` is ``directory`` or lies below it (both normalized)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def check_owned_dir(value: Any) -> Optional[str]:
    """A directory a role takes over (chowns and makes 0700, or deletes recursively), after
    ``check_path``: at least 3 components once normalized (``/var/lib/istio/tokens``, not ``/srv/x``)
    and none of the system's shared directories (``SYSTEM_DIRECTORIES``)."""
    if not isinstance(value, str) or check_path(value):
        return None  # check_path's problem is reported on its own
    parts = [part for part in posixpath.normpath(value).split("/") if part]
    directory = "/" + "/".join(parts)
    if directory in SYSTEM_DIRECTORIES:
        return "%r is a system directory" % directory
    if len(parts) < OWNED_DIR_MIN_COMPONENTS:
        return "%r is too close to / (a directory of its own needs at least %d components, like " \
               "/var/lib/<name>/<dir>)" % (directory, OWNED_DIR_MIN_COMPONENTS)
    return None


def is_ip(value: Any) -> bool:
    """Go's netip.ParseAddr: IPv4 dotted quad (no leading zeros) or IPv6, optionally with a zone."""
    if not isinstance(value, str) or not value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_ip(value: Any) -> Optional[str]:
    if not is_ip(value):
        return "%r is not a valid IP address" % (value,)
    return None


def is_plain_ip(value: Any) -> bool:
    """An IP address without an IPv6 zone (``%eth0``): Python takes almost any text after ``%``,
    spaces, quotes and ``$(...)`` included, and a VM's address reaches cluster.env (which
    istio-start.sh interpolates into a ``bash -c`` line) and /etc/hosts."""
    return is_ip(value) and "%" not in value


def check_plain_ip(value: Any) -> Optional[str]:
    """check_ip for the addresses a VM's files hold: no IPv6 zone either."""
    problem = check_ip(value)
    if problem is None and not is_plain_ip(value):
        return "%r has an IPv6 zone (after %%), which a VM's address cannot have" % (value,)
    return problem


def check_ip_or_cidr(value: Any) -> Optional[str]:
    """Istio's ValidateIPSubnet: an IP, or a CIDR block (host bits may be set, as Go's ParsePrefix)."""
    if not isinstance(value, str):
        return "%r is not a string" % (value,)
    if value.count("/") != 1:
        return check_ip(value)
    address, bits = value.split("/")
    ok = is_plain_ip(address) and re.match(r"^(?:0|[1-9][0-9]{0,2})\Z", bits) is not None
    if ok:
        ok = int(bits) <= (32 if ipaddress.ip_address(address).version == 4 else 128)
    if not ok:
        return "%r is not a valid CIDR block" % (value,)
    return None


def is_istio_dns_label(value: Any) -> bool:
    """istiod's IsDNS1123Label: at most 63, letters of any case, digits and inner '-'."""
    return isinstance(value, str) and len(value) <= 63 and _ISTIO_LABEL_RE.match(value) is not None


def check_fqdn(value: Any) -> Optional[str]:
    """Istio's ValidateFQDN: at most 255, DNS-1123 labels (any case), top level not all-numeric."""
    if not isinstance(value, str) or value == "":
        return "empty domain name not allowed"
    if len(value) > 255:
        return "domain name %r too long (max 255)" % (value,)
    return _check_dns_labels(value)


def _check_dns_labels(domain: str) -> Optional[str]:
    parts = domain.split(".")
    if re.match(r"^[+-]?[0-9]+\Z", parts[-1]):
        return "domain name %r invalid (top level domain %r cannot be all-numeric)" % (domain, parts[-1])
    for index, label in enumerate(parts):
        if index == len(parts) - 1 and label == "":
            return None  # a trailing dot is allowed ("istio.io.")
        if len(label) > 63 or not _ISTIO_LABEL_RE.match(label):
            return "domain name %r invalid (label %r invalid)" % (domain, label)
    return None


def check_wildcard_domain(value: Any) -> Optional[str]:
    """Istio's ValidateWildcardDomain: like an FQDN, but the first label may be '*', '*foo' or '*-foo'."""
    if not isinstance(value, str) or value == "":
        return "empty domain name not allowed"
    if len(value) > 255:
        return "domain name %r too long (max 255)" % (value,)
    first, _dot, rest = value.partition(".")
    if len(first) > 63 or not _ISTIO_WILDCARD_LABEL_RE.match(first):
        return "domain name %r invalid (label %r invalid)" % (value, first)
    if _dot:
        return _check_dns_labels(rest)
    return None


def is_partial_wildcard(host: str) -> bool:
    return "*" in host and len(host) != 1 and not host.startswith("*.")


def check_unix_address(address: str) -> Optional[str]:
    """``unix://`` endpoints: an absolute file path (not a directory) or an abstract socket ``@name``."""
    path = address[len(UNIX_PREFIX):] if address.startswith(UNIX_PREFIX) else address
    if path == "":
        return "unix address must not be empty"
    if path.startswith("@"):
        return None
    if not path.startswith("/") or path.endswith("/"):
        return "%r is not an absolute path to a file" % (path,)
    return None


def split_host_port(value: str) -> Tuple[str, str]:
    """Go's net.SplitHostPort: ``host:port`` or ``[v6]:port``; raises ValueError like Go errors."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("missing ']' in address %r" % value)
        host, rest = value[1:end], value[end + 1:]
        if not rest.startswith(":"):
            raise ValueError("missing port in address %r" % value)
        port = rest[1:]
        if "[" in host or "]" in port or "[" in port:
            raise ValueError("unexpected '[' or ']' in address %r" % value)
        return host, port
    host, sep, port = value.rpartition(":")
    if not sep:
        raise ValueError("missing port in address %r" % value)
    if ":" in host:
        raise ValueError("too many colons in address %r" % value)
    if "[" in host or "]" in host or "[" in port or "]" in port:
        raise ValueError("unexpected '[' or ']' in address %r" % value)
    return host, port


# Protocols istiod accepts on ports (pkg/config/protocol Parse, case-insensitive); "" means sniffing.
PROTOCOLS = ("TCP", "UDP", "GRPC", "GRPC-WEB", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL")


def protocol(value: Any) -> str:
    """The canonical upper-case protocol, "" when unset, "UNSUPPORTED" when unknown or not a string."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        return "UNSUPPORTED"
    upper = value.upper()
    return upper if upper in PROTOCOLS else "UNSUPPORTED"


def check_protocol(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or protocol(value) == "UNSUPPORTED":
        return "unsupported protocol %r (one of %s)" % (value, ", ".join(PROTOCOLS))
    return None


def is_http(proto: str) -> bool:
    return proto in ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB")


def is_tls(proto: str) -> bool:
    return proto in ("HTTPS", "TLS")


def is_tcp(proto: str) -> bool:
    return proto in ("TCP", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL")
