# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which parts of the connection options are secrets to mask (kubeconfig dictionary, proxy URL)."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._args import secret_values

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": "Q0E="}}],
    "users": [
        {"name": "a", "user": {"token": "tok-123456", "client-certificate-data": "Q0VSVA=="}},
        {"name": "b", "user": {"client-key-data": "S0VZLWRhdGE=", "username": "admin", "password": "pw-secret"}},
        {"name": "c", "user": {"auth-provider": {"name": "oidc", "config": {
            "id-token": "idt-777", "refresh-token": "rt-888", "client-secret": "cs-999", "client-id": "meshops"}}}},
        {"name": "d", "user": {"exec": {"command": "aws", "env": [{"name": "X", "value": "y"}]}}},
        {"name": "e", "user": {"exec": {"command": "aws", "env": [
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalr-secret-key"}, "garbage", {"name": "EMPTY"}]}}},
        {"name": "f", "user": {"exec": "garbage"}},
        "garbage",
    ],
}


def test_kubeconfig_dictionary_credentials():
    assert secret_values({"kubeconfig": KUBECONFIG}) == {
        "tok-123456", "S0VZLWRhdGE=", "pw-secret", "idt-777", "rt-888", "cs-999", "wJalr-secret-key"}


def test_a_cluster_proxy_url_with_user_info():
    kubeconfig = {"clusters": [{"name": "c", "cluster": {"server": "https://k", "proxy-url": "http://u:pr0xy-pw@p:3128"}},
                               {"name": "d", "cluster": {"server": "https://k", "proxy-url": "http://p:3128"}}, "x"]}
    assert secret_values({"kubeconfig": kubeconfig}) == {"u:pr0xy-pw", "pr0xy-pw"}


@pytest.mark.parametrize("params,expected", [
    ({"kubeconfig": "/home/me/.kube/config"}, set()),
    ({"kubeconfig": None, "proxy": None}, set()),
    ({"proxy": "http://proxy.example:3128"}, set()),
    ({"proxy": "http://svc:s3cr3t@proxy.example:3128/"}, {"svc:s3cr3t", "s3cr3t"}),
    ({"proxy": "http://token-only@proxy.example:3128"}, {"token-only"}),
    ({"proxy": "http://proxy.example:3128/a@b"}, set()),      # an @ in the path is not user info
])
def test_other_options(params, expected):
    assert secret_values(params) == expected
