# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Option groups shared by the modules; each has a doc fragment in plugins/doc_fragments.

The connection options carry kubernetes.core's names and K8S_AUTH_* environment variables,
so an AWX/AAP "OpenShift or Kubernetes API Bearer Token" credential works unchanged.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"],
                       "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"])},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"])},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": (env_fallback, ["K8S_AUTH_CERT_FILE"])},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False,
                   "fallback": (env_fallback, ["K8S_AUTH_KEY_FILE"])},
    "proxy": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_PROXY"])},
}

APPLY_ARG_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "force_conflicts": {"type": "bool", "default": False},
    "create": {"type": "bool", "default": True},
}

METADATA_ARG_SPEC = {
    "name": {"type": "str"},
    "namespace": {"type": "str", "default": "default"},
    "metadata_labels": {"type": "dict"},
    "metadata_annotations": {"type": "dict"},
}


def auth_params(params: dict) -> dict:
    return {key: params.get(key) for key in AUTH_ARG_SPEC}


# Keys of a kubeconfig's users[].user (and its auth-provider/exec config) that hold credentials.
_KUBECONFIG_SECRET_KEYS = frozenset(("token", "client-key-data", "password", "id-token", "refresh-token",
                                     "access-token", "client-secret", "idp-certificate-authority-data"))


def secret_values(params: dict) -> set:
    """The parts of the connection options that are secrets without being whole no_log options:
    the credentials inside a kubeconfig given as a dictionary, and the password (and user info) of
    a proxy URL. Modules add them to AnsibleModule.no_log_values, so that Ansible masks them in
    results, in the invocation shown at -vvv and in error messages."""
    found = set()

    def walk(value, secret=False):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or key in _KUBECONFIG_SECRET_KEYS)
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str) and value:
            found.add(value)

    def proxy_userinfo(url):
        if isinstance(url, str) and "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            userinfo = url.split("//", 1)[-1].split("/", 1)[0].rsplit("@", 1)[0]
            found.add(userinfo)
            if ":" in userinfo:
                found.add(userinfo.split(":", 1)[1])

    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        for user in kubeconfig.get("users") or []:
            if isinstance(user, dict):
                walk(user.get("user"))
                # an exec plugin's environment carries its credentials (AWS_SECRET_ACCESS_KEY, ...)
                plugin = user["user"].get("exec") if isinstance(user.get("user"), dict) else None
                env = plugin.get("env") if isinstance(plugin, dict) else None
                for item in env if isinstance(env, list) else []:
                    if isinstance(item, dict):
                        walk(item.get("value"), True)
        for cluster in kubeconfig.get("clusters") or []:
            if isinstance(cluster, dict) and isinstance(cluster.get("cluster"), dict):
                proxy_userinfo(cluster["cluster"].get("proxy-url"))
    proxy_userinfo(params.get("proxy"))
    return {value for value in found if len(value) >= 3}
