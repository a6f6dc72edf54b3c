# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client seam's retry: which errors are tried again, after how long, and when it gives up."""
from __future__ import annotations

import pytest
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, SSLError

from ansible_collections.meshops.istio_vm.plugins.module_utils._client import (
    MeshClient,
    RetryPolicy,
    retry_after_seconds,
    retry_delay,
    retryable,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

POLICY = RetryPolicy(attempts=5, budget=30.0, base=0.5, cap=8.0, retry_after_cap=10.0)


@pytest.mark.parametrize("attempt,elapsed,retry_after,jitter,expected", [
    (1, 0.0, None, 0.0, 0.5),            # the first backoff
    (2, 0.5, None, 0.0, 1.0),            # doubles ...
    (4, 3.5, None, 0.0, 4.0),
    (3, 1.5, None, 1.0, 2.5),            # jitter lengthens by up to a quarter
    (5, 7.5, None, 0.0, None),           # the fifth attempt was the last
    (1, 0.0, 1.0, 0.0, 1.0),             # Retry-After wins over the backoff
    (1, 0.0, 0.0, 0.0, 0.0),
    (1, 0.0, 3600.0, 0.0, 10.0),         # ... capped
    (2, 25.0, 8.0, 0.0, None),           # would end beyond the budget
    (1, 29.7, None, 0.0, None),
])
def test_retry_delay(attempt, elapsed, retry_after, jitter, expected):
    assert retry_delay(POLICY, attempt, elapsed, retry_after, jitter) == expected


def test_backoff_is_capped():
    policy = RetryPolicy(attempts=20, budget=1000.0, base=0.5, cap=8.0)
    assert [retry_delay(policy, n, 0.0) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_the_default_bound_is_small():
    """Five attempts and at most 7.5 s (plus jitter) of waiting when every call fails fast."""
    policy, elapsed, attempt = RetryPolicy(), 0.0, 1
    while (delay := retry_delay(policy, attempt, elapsed, jitter=1.0)) is not None:
        elapsed, attempt = elapsed + delay, attempt + 1
    assert attempt == 5 and elapsed <= 7.5 * 1.25


@pytest.mark.parametrize("value,expected", [
    ("1", 1.0), (" 2 ", 2.0), ("0.5", 0.5), ("-1", None), ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ("", None), (None, None),
])
def test_retry_after_seconds(value, expected):
    assert retry_after_seconds(value) == expected


def api_error(status, reason="", headers=None, body=""):
    exc = ApiException(status=status, reason=reason)
    exc.headers, exc.body = headers or {}, body
    return exc


REFUSED = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")


@pytest.mark.parametrize("exc,expected", [
    (api_error(429, "Too Many Requests"), "429 Too Many Requests"),
    (api_error(500, "Internal Server Error"), "500 Internal Server Error"),
    (api_error(502, "Bad Gateway"), "502 Bad Gateway"),
    (api_error(503, "Service Unavailable"), "503 Service Unavailable"),
    (api_error(504, "Gateway Timeout"), "504 Gateway Timeout"),
    (api_error(501, "Not Implemented"), None),
    (api_error(400), None), (api_error(401), None), (api_error(403), None), (api_error(404), None),
    (api_error(409), None), (api_error(422), None),
    (MaxRetryError(None, "/api", REFUSED), "[Errno 111] Connection refused"),
    (ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), "Connection aborted."),
    (ConnectionRefusedError(111, "Connection refused"), "[Errno 111] Connection refused"),
    (MaxRetryError(None, "/api", SSLError("certificate verify failed")), None),   # TLS: never
    (FileNotFoundError(2, "no such file"), None),
])
def test_retryable(exc, expected):
    assert retryable(exc) == expected


class Answers:
    """A call that raises the given errors in turn, then returns 'ok'; it counts its calls."""

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class _Conf:
    host = "https://api.example:6443"


class _ApiClient:
    configuration = _Conf()


def client(**policy):
    return MeshClient(_ApiClient(), retry=RetryPolicy(**dict({"base": 0.0, "retry_after_cap": 0.0}, **policy)))


def test_retried_until_it_succeeds():
    fn = Answers(api_error(503, "Service Unavailable"), api_error(429, headers={"Retry-After": "1"}),
                 MaxRetryError(None, "/api", REFUSED))
    assert client()._call("read", "WorkloadGroup ns/g", fn) == "ok"
    assert fn.calls == 4


def test_gives_up_at_the_bound_naming_attempts_and_last_status():
    fn = Answers(*[api_error(503, "Service Unavailable")] * 10)
    with pytest.raises(MeshError) as err:
        client(attempts=3)._call("apply", "WorkloadEntry ns/x", fn)
    assert fn.calls == 3
    assert err.value.message.startswith("Failed to apply WorkloadEntry ns/x: ")
    assert "(gave up after 3 attempts in " in err.value.message
    assert err.value.message.endswith("; last: 503 Service Unavailable)")
    assert err.value.details == {"status": 503, "attempts": 3}


def test_connection_errors_name_the_api_server_and_the_attempts():
    fn = Answers(*[MaxRetryError(None, "/api", REFUSED)] * 10)
    with pytest.raises(MeshError) as err:
        client(attempts=2)._call("list", "WorkloadEntry in namespace ns", fn)
    assert "cannot reach the Kubernetes API at https://api.example:6443" in err.value.message
    assert err.value.message.endswith("(gave up after 2 attempts in 0.0s; last: [Errno 111] Connection refused)")


def test_no_retry_for_errors_about_the_request():
    fn = Answers(api_error(409, "Conflict", body='{"message": "Apply failed with 1 conflict"}'))
    with pytest.raises(MeshError) as err:
        client()._call("apply", "WorkloadEntry ns/x", fn)
    assert fn.calls == 1 and "attempts" not in err.value.message


def test_a_missing_object_after_a_retry_is_missing():
    """A DELETE retried after a 503 may find the object already gone: 404 is 'not there'."""
    fn = Answers(api_error(503, "Service Unavailable"), api_error(404, body='{"message": "not found"}'))
    assert client()._or_missing("delete", "WorkloadEntry ns/x", False, fn) is False
    assert fn.calls == 2


def test_a_kind_not_served_is_an_error_not_missing():
    fn = Answers(api_error(404, body='{"message": "the server could not find the requested resource"}'))
    with pytest.raises(MeshError, match="are the Istio CRDs installed"):
        client()._or_missing("read", "WorkloadEntry ns/x", None, fn)
