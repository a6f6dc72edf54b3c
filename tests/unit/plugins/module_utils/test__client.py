# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client seam: which errors are tried again, after how long, and when it gives up; how a
credential becomes a client (no network); how API and transport errors read."""
from __future__ import annotations

import base64
import copy
import datetime
import email.utils
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

import ansible_collections
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, SSLError

from ansible_collections.meshops.istio_vm.plugins.module_utils._client import (
    MeshClient,
    RetryPolicy,
    api_path,
    query_string,
    retry_after_seconds,
    retry_delay,
    retryable,
    server_time,
    wait_until,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.modules import mesh_lock

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


# -- construction: MeshClient.from_params reads the credential, never the network -----------------

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "one",
    "clusters": [{"name": "c1", "cluster": {"server": "https://127.0.0.1:7443"}},
                 {"name": "c2", "cluster": {"server": "https://127.0.0.2:8443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u1", "user": {"token": "token-one"}}, {"name": "u2", "user": {"token": "token-two"}}],
    "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u1"}},
                 {"name": "two", "context": {"cluster": "c2", "user": "u2"}}],
}


@pytest.fixture
def no_ambient_credential(monkeypatch, tmp_path):
    """No KUBECONFIG, no ~/.kube/config, not inside a pod: only the params count."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def bearer(mesh_client):
    """The Authorization header the client would send."""
    return mesh_client.api.configuration.auth_settings()["BearerToken"]["value"]


def test_kubeconfig_dict_current_context(no_ambient_credential):
    mesh = MeshClient.from_params({"kubeconfig": KUBECONFIG})
    conf = mesh.api.configuration
    assert (mesh.host, conf.host, bearer(mesh)) == ("https://127.0.0.1:7443", "https://127.0.0.1:7443", "Bearer token-one")
    assert conf.verify_ssl is True
    assert conf.retries == 0      # MeshClient._attempt is the only place that retries


def test_kubeconfig_file_and_context(no_ambient_credential):
    path = no_ambient_credential / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG), encoding="utf-8")
    mesh = MeshClient.from_params({"kubeconfig": str(path), "context": "two"})
    assert (mesh.host, bearer(mesh)) == ("https://127.0.0.2:8443", "Bearer token-two")
    assert mesh.api.configuration.verify_ssl is False


def test_kubeconfig_from_the_environment(no_ambient_credential):
    # In a process of its own: the kubernetes client reads KUBECONFIG when it is imported, as in a
    # module's process or ansible-playbook's.
    path = no_ambient_credential / "env-kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG), encoding="utf-8")
    roots = [str(Path(p).parent) for p in ansible_collections.__path__]
    code = ("from ansible_collections.meshops.istio_vm.plugins.module_utils._client import MeshClient; "
            "print(MeshClient.from_params({}).host)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60,
                         env=dict(os.environ, KUBECONFIG=str(path), PYTHONPATH=os.pathsep.join(roots)))
    assert (res.returncode, res.stdout.strip()) == (0, "https://127.0.0.1:7443"), res.stderr


def test_host_and_api_key_without_kubeconfig(no_ambient_credential):
    mesh = MeshClient.from_params({"host": "https://10.9.9.9:6443", "api_key": "key-x", "validate_certs": False,
                                   "ca_cert": "/etc/ca.pem", "proxy": "http://proxy:3128"})
    conf = mesh.api.configuration
    assert (mesh.host, bearer(mesh)) == ("https://10.9.9.9:6443", "Bearer key-x")
    assert (conf.verify_ssl, conf.ssl_ca_cert, conf.proxy) == (False, "/etc/ca.pem", "http://proxy:3128")


def test_api_key_and_host_override_the_kubeconfig_user_and_server(no_ambient_credential, tmp_path, monkeypatch):
    # the kubernetes client writes certificate data to temporary files it does not always remove
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kubeconfig = copy.deepcopy(KUBECONFIG)
    pem = base64.b64encode(b"not checked before the first call").decode()
    kubeconfig["users"][0]["user"] = {"client-certificate-data": pem, "client-key-data": pem, "token": "token-one"}
    loaded = MeshClient.from_params({"kubeconfig": kubeconfig}).api.configuration
    assert loaded.cert_file and loaded.key_file     # the kubeconfig user's certificate ...
    mesh = MeshClient.from_params({"kubeconfig": kubeconfig, "api_key": "key-y", "host": "https://10.9.9.9:6443"})
    conf = mesh.api.configuration
    assert (mesh.host, bearer(mesh)) == ("https://10.9.9.9:6443", "Bearer key-y")
    assert conf.cert_file is None and conf.key_file is None     # ... is not sent with the api_key


def test_client_certificate_options(no_ambient_credential):
    mesh = MeshClient.from_params({"kubeconfig": KUBECONFIG, "client_cert": "/c.pem", "client_key": "/k.pem"})
    assert (mesh.api.configuration.cert_file, mesh.api.configuration.key_file) == ("/c.pem", "/k.pem")


def test_no_credential_at_all_names_every_way_to_give_one(no_ambient_credential):
    with pytest.raises(MeshError) as err:
        MeshClient.from_params({"kubeconfig": None, "context": None, "host": None})
    for way in ("K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "KUBECONFIG", "~/.kube/config", "mesh_workload_kubeconfig"):
        assert way in err.value.message


@pytest.mark.parametrize("params, expected", [
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "(kubeconfig=/nonexistent/kubeconfig, context=None)"),
    ({"kubeconfig": KUBECONFIG, "context": "three"}, "(kubeconfig=<dict>, context=three)"),
    ({"kubeconfig": {"apiVersion": "v1", "kind": "Config"}}, "(kubeconfig=<dict>, context=None)"),
])
def test_a_credential_that_does_not_load_is_named_without_its_secrets(no_ambient_credential, params, expected):
    with pytest.raises(MeshError) as err:
        MeshClient.from_params(params)
    assert err.value.message.startswith("Cannot load the cluster credential " + expected)
    assert "Set kubeconfig/K8S_AUTH_KUBECONFIG or host and api_key." in err.value.message
    assert "token-one" not in err.value.message and "token-two" not in err.value.message


# -- error translation: MeshClient._fail, with the exceptions the kubernetes client raises -----

def status_body(message, code):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code})


@pytest.mark.parametrize("exc, starts, contains, status", [
    (api_error(401, "Unauthorized", body=status_body("Unauthorized", 401)),
     "Failed to read WorkloadGroup vms/g: the cluster rejected the credential (401 Unauthorized).",
     "Check the token or client certificate", 401),
    (api_error(403, "Forbidden", body=status_body(
        'workloadgroups.networking.istio.io "g" is forbidden: User "ci" cannot get resource', 403)),
     "Failed to read WorkloadGroup vms/g: forbidden by RBAC: workloadgroups.networking.istio.io \"g\" is forbidden",
     "Grant the credential's user this permission.", 403),
    (api_error(404, "Not Found", body=status_body("the server could not find the requested resource", 404)),
     "Failed to read WorkloadGroup vms/g: the API does not serve this kind; are the Istio CRDs installed?", "", 404),
    (api_error(404, "Not Found", body=status_body('workloadgroups.networking.istio.io "g" not found', 404)),
     'Failed to read WorkloadGroup vms/g: workloadgroups.networking.istio.io "g" not found', "", 404),
    (api_error(409, "Conflict", body=status_body("Apply failed with 1 conflict: conflict with \"kubectl\"", 409)),
     "Failed to read WorkloadGroup vms/g: Apply failed with 1 conflict", "set force_conflicts: true", 409),
    (api_error(409, "Conflict", body=status_body('leases.coordination.k8s.io "l" already exists', 409)),
     'Failed to read WorkloadGroup vms/g: leases.coordination.k8s.io "l" already exists', "", 409),
    (api_error(422, "Unprocessable Entity", body=status_body("spec.address: Invalid value", 422)),
     "Failed to read WorkloadGroup vms/g: spec.address: Invalid value", "", 422),
    (api_error(500, "Internal Server Error", body="<html>oops</html>"),     # not JSON: the body as it is
     "Failed to read WorkloadGroup vms/g: <html>oops</html>", "", 500),
    (api_error(400, "Bad Request", body=""),                                 # no body: the reason
     "Failed to read WorkloadGroup vms/g: Bad Request", "", 400),
])
def test_api_errors_say_what_failed_and_what_to_do(exc, starts, contains, status):
    err = client()._fail("read", "WorkloadGroup vms/g", exc)
    assert isinstance(err, MeshError)
    assert err.message.startswith(starts), err.message
    assert contains in err.message
    assert err.details == {"status": status}


def test_a_409_without_conflict_does_not_suggest_force_conflicts():
    err = client()._fail("create", "Lease vms/l", api_error(409, "Conflict", body=status_body("already exists", 409)))
    assert "force_conflicts" not in err.message


@pytest.mark.parametrize("exc", [MaxRetryError(None, "/api", REFUSED), ConnectionRefusedError(111, "Connection refused"),
                                 MaxRetryError(None, "/api", SSLError("certificate verify failed"))])
def test_transport_errors_name_the_api_server(exc):
    err = client()._fail("list", "WorkloadEntry in namespace vms", exc)
    assert err.message.startswith("Failed to list WorkloadEntry in namespace vms: cannot reach the Kubernetes API "
                                  "at https://api.example:6443: ")
    assert err.details == {}


def test_a_tls_failure_is_not_retried_and_says_so_once():
    fn = Answers(*[MaxRetryError(None, "/api", SSLError("certificate verify failed"))] * 3)
    with pytest.raises(MeshError) as err:
        client()._call("read", "WorkloadGroup vms/g", fn)
    assert fn.calls == 1
    assert "certificate verify failed" in err.value.message and "gave up" not in err.value.message


@pytest.mark.parametrize("kind, namespace, name, expected", [
    ("WorkloadEntry", "vms", "db-1", "WorkloadEntry vms/db-1"),
    ("Namespace", None, "vms", "Namespace vms"),
    ("Lease", "vms", "meshops-istio-vm", "Lease vms/meshops-istio-vm"),
])
def test_describe(kind, namespace, name, expected):
    assert MeshClient.describe(kind, namespace, name) == expected


def test_host_defaults_to_the_api_clients_configuration():
    assert client().host == "https://api.example:6443"
    assert MeshClient(_ApiClient(), host="https://other:6443").host == "https://other:6443"


def test_wait_until_returns_the_first_truthy_answer():
    answers = iter([None, 0, {"ready": True}])
    assert wait_until("the thing", lambda: next(answers), timeout=5, interval=0.0) == {"ready": True}


def test_wait_until_times_out_naming_what_it_waited_for():
    with pytest.raises(MeshError, match=r"^Timed out after 0.05s waiting for WorkloadEntry vms/a to be Healthy$"):
        wait_until("WorkloadEntry vms/a to be Healthy", lambda: None, timeout=0.05, interval=0.01)


# -- the REST calls: paths, and what goes over the wire (a local HTTP server on loopback) ---------

@pytest.mark.parametrize("args, expected", [
    (("WorkloadEntry", "vms", "a"), "/apis/networking.istio.io/v1/namespaces/vms/workloadentries/a"),
    (("WorkloadGroup", "vms"), "/apis/networking.istio.io/v1/namespaces/vms/workloadgroups"),
    (("WorkloadEntry",), "/apis/networking.istio.io/v1/workloadentries"),
    (("Namespace", None, "vms"), "/api/v1/namespaces/vms"),
    (("Namespace", "ignored", "vms"), "/api/v1/namespaces/vms"),
    (("ServiceAccount", "vms", "sa", "token"), "/api/v1/namespaces/vms/serviceaccounts/sa/token"),
    (("Lease", "vms", "meshops-istio-vm"), "/apis/coordination.k8s.io/v1/namespaces/vms/leases/meshops-istio-vm"),
    (("Deployment", "istio-system"), "/apis/apps/v1/namespaces/istio-system/deployments"),
    (("ConfigMap", "vms", "a/b c"), "/api/v1/namespaces/vms/configmaps/a%2Fb%20c"),
])
def test_api_path(args, expected):
    assert api_path(*args) == expected


def test_query_string():
    assert query_string({}) == ""
    assert query_string({"labelSelector": "", "dryRun": None}) == ""
    assert query_string({"fieldManager": "meshops.istio_vm", "force": False, "dryRun": "All"}) == \
        "?fieldManager=meshops.istio_vm&force=false&dryRun=All"
    assert query_string({"labelSelector": "app=a,tier in (x)"}) == "?labelSelector=app%3Da%2Ctier+in+%28x%29"


class _Server:
    """An HTTP server on loopback that records each request and answers from a script of
    (status, headers, body) in turn; its Date header is ``clock_offset`` seconds off this machine's clock."""

    def __init__(self, *answers, clock_offset=0.0):
        self.answers, self.requests = list(answers), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def date_time_string(self, timestamp=None):   # the server's clock, clock_offset seconds off
                return email.utils.formatdate((timestamp or time.time()) + clock_offset, usegmt=True)

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": json.loads(self.rfile.read(length)) if length else None})
                status, headers, body = server.answers.pop(0)
                data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for key, value in dict(headers, **{"Content-Length": str(len(data))}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def client(self, kubeconfig=False):
        url = "http://127.0.0.1:%d" % self.httpd.server_port
        if kubeconfig:      # the user of the kubeconfig's current context, with its token
            config = copy.deepcopy(KUBECONFIG)
            config["clusters"][0]["cluster"]["server"] = url
            mesh = MeshClient.from_params({"kubeconfig": config})
        else:
            mesh = MeshClient.from_params({"host": url, "api_key": "tok-1"})
        mesh.retry = RetryPolicy(base=0.0, retry_after_cap=0.0)
        return mesh


def test_apply_sends_a_server_side_apply_with_the_credential(no_ambient_credential):
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
           "metadata": {"name": "a", "namespace": "vms"}, "spec": {"address": "10.0.0.1"}}
    with _Server((201, {}, dict(obj, status={}))) as server:
        assert server.client().apply(obj, dry_run=True) == dict(obj, status={})
    [req] = server.requests
    assert (req["method"], req["path"]) == (
        "PATCH", "/apis/networking.istio.io/v1/namespaces/vms/workloadentries/a"
                 "?fieldManager=meshops.istio_vm&force=false&dryRun=All")
    assert req["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert req["headers"]["authorization"] == "Bearer tok-1"
    assert req["body"] == obj


def test_the_kubeconfig_users_token_is_sent(no_ambient_credential):
    with _Server((201, {}, {"status": {"allowed": True}}), (201, {}, {"status": {"userInfo": {"username": "u"}}})) as server:
        mesh = server.client(kubeconfig=True)
        assert mesh.can_i({"verb": "get", "group": "", "resource": "configmaps", "namespace": "istio-system",
                           "name": None}) is True
        assert mesh.whoami() == "u"
    assert [r["headers"]["authorization"] for r in server.requests] == ["Bearer token-one"] * 2
    assert server.requests[0]["body"] == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "group": "", "resource": "configmaps",
                                        "namespace": "istio-system"}}}
    assert server.requests[1]["path"] == "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def test_a_missing_object_is_none_and_an_error_keeps_status_body_and_headers(no_ambient_credential):
    missing = {"kind": "Status", "message": 'leases.coordination.k8s.io "l" not found', "code": 404}
    with _Server((404, {}, missing), (503, {"Retry-After": "0"}, {"message": "busy"}), (200, {}, {"items": [{}]}),
                 (403, {}, {"message": "nope"})) as server:
        mesh = server.client()
        assert mesh.lease("vms", "l") is None
        assert mesh.list("Service", "vms", "app=a") == [{"apiVersion": "v1", "kind": "Service"}]
        with pytest.raises(MeshError) as err:
            mesh.create_namespace("vms")
    assert [(r["method"], r["path"]) for r in server.requests] == [
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/vms/leases/l"),
        ("GET", "/api/v1/namespaces/vms/services?labelSelector=app%3Da"),
        ("GET", "/api/v1/namespaces/vms/services?labelSelector=app%3Da"),
        ("POST", "/api/v1/namespaces")]
    assert err.value.message == "Failed to create Namespace vms: forbidden by RBAC: nope. Grant the credential's user " \
                                "this permission."
    assert err.value.details == {"status": 403}


def test_a_2xx_answer_that_is_not_json_names_the_host_not_a_python_error(no_ambient_credential):
    page = b"<html><title>Sign in</title>secret-session-0042</html>"
    with _Server((200, {"Content-Type": "text/html"}, page), (200, {}, b"\xff{"),
                 (200, {}, {"status": {"userInfo": {"username": "u"}}})) as server:
        mesh = server.client()
        with pytest.raises(MeshError) as err:
            mesh.get("WorkloadEntry", "vms", "a")
        with pytest.raises(MeshError) as undecodable:
            mesh.list("WorkloadEntry", "vms")
        assert mesh.whoami() == "u"
    assert err.value.message == (
        "Failed to read WorkloadEntry vms/a: the answer from %s is not JSON (status 200, Content-Type text/html, "
        "%d bytes); is host or the proxy the Kubernetes API server?" % (mesh.host, len(page)))
    assert err.value.details == {"status": 200}
    assert "secret-session-0042" not in err.value.message
    assert undecodable.value.message.startswith("Failed to list WorkloadEntry in namespace vms: the answer from %s "
                                                "is not JSON (status 200, Content-Type unset, 2 bytes)" % mesh.host)
    assert len(server.requests) == 3        # not retried


def test_a_lease_is_deleted_only_at_its_resource_version(no_ambient_credential):
    with _Server((200, {}, {}), (409, {}, {"message": "Precondition failed"})) as server:
        mesh = server.client()
        assert mesh.delete_lease("vms", "l", "41") is True
        assert mesh.delete_lease("vms", "l", "41") is False
    assert server.requests[0]["method"] == "DELETE"
    assert server.requests[0]["body"]["preconditions"] == {"resourceVersion": "41"}


def test_a_lease_update_that_finds_it_deleted_reads_again_and_only_a_create_means_no_namespace(no_ambient_credential):
    # a 404 on the PUT: the Lease was deleted since it was read (given back, or by the operator), not the
    # namespace gone: None, so that acquire reads again, as after a conflict
    missing = (404, {}, {"kind": "Status", "reason": "NotFound", "code": 404,
                         "message": 'leases.coordination.k8s.io "meshops-istio-vm" not found'})
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "meshops-istio-vm", "namespace": "vms", "resourceVersion": "7"}}
    with _Server(missing, missing) as server:
        mesh = server.client()
        assert mesh.write_lease(body, create=False) is None
        assert mesh.write_lease(body, create=True) is False
    assert [r["method"] for r in server.requests] == ["PUT", "POST"]


def test_a_token_request_returns_the_token_and_its_expiry(no_ambient_credential):
    answer = {"status": {"token": "t", "expirationTimestamp": "2026-12-03T10:00:00Z"}}
    with _Server((201, {}, answer)) as server:
        assert server.client().create_token("vms", "sa", ["istio-ca"], 3600) == {
            "token": "t", "expiration": "2026-12-03T10:00:00Z"}
    assert server.requests[0]["path"] == "/api/v1/namespaces/vms/serviceaccounts/sa/token"
    assert server.requests[0]["body"]["spec"] == {"audiences": ["istio-ca"], "expirationSeconds": 3600}


@pytest.mark.parametrize("text", ["clusters: [a\n", "\tkind: Config\n", "- 1\n- 2\n"])
def test_a_kubeconfig_file_that_is_no_kubeconfig_is_an_error_naming_it(no_ambient_credential, tmp_path, text):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(MeshError) as err:
        MeshClient.from_params({"kubeconfig": str(path)})
    assert err.value.message.startswith("Cannot load the cluster credential (kubeconfig=%s, context=None): " % path)


@pytest.mark.parametrize("answer", [{"status": {}}, {"status": {"token": ""}}, {"status": {"token": 5}},
                                    {"status": "token"}, {}])
def test_a_token_request_answered_without_a_token_is_an_error(no_ambient_credential, answer):
    with _Server((201, {}, answer)) as server:
        with pytest.raises(MeshError) as err:
            server.client().create_token("vms", "vm", ["istio-ca"], 3600)
    assert err.value.message == "The API server answered the TokenRequest for ServiceAccount vms/vm without a token"


def test_a_token_request_returns_the_token_and_its_expiry(no_ambient_credential):
    with _Server((201, {}, {"status": {"token": "t0k", "expirationTimestamp": "2026-01-01T00:00:00Z"}})) as server:
        assert server.client().create_token("vms", "vm", ["istio-ca"], 3600) == {
            "token": "t0k", "expiration": "2026-01-01T00:00:00Z"}
    [req] = server.requests
    assert req["path"] == "/api/v1/namespaces/vms/serviceaccounts/vm/token"
    assert req["body"]["spec"] == {"audiences": ["istio-ca"], "expirationSeconds": 3600}


UTC = datetime.timezone.utc
LOCAL = datetime.datetime(2026, 12, 7, 15, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("date,received,now,expected", [
    ("Mon, 07 Dec 2026 14:00:00 GMT", 10.0, 12.5, datetime.datetime(2026, 12, 7, 14, 0, 2, 500000, tzinfo=UTC)),
    ("Mon, 07 Dec 2026 16:00:00 +0000", 10.0, 10.0, datetime.datetime(2026, 12, 7, 16, 0, tzinfo=UTC)),
    ("Mon, 07 Dec 2026 14:00:00 GMT", 10.0, 9.0, datetime.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),  # never back
    (None, 0.0, 5.0, LOCAL),                          # no answer yet: this machine's clock
    ("yesterday", 0.0, 5.0, LOCAL),                   # not a date
    # no zone, or "-0000": UTC, as every HTTP date (RFC 9110), not this machine's clock
    ("Mon, 07 Dec 2026 14:00:00", 0.0, 5.0, datetime.datetime(2026, 12, 7, 14, 0, 5, tzinfo=UTC)),
    ("Mon, 07 Dec 2026 14:00:00 -0000", 1.0, 1.0, datetime.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),
    ("Mon Dec  7 14:00:00 2026", 1.0, 1.0, datetime.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),    # asctime's
    ("Mon, 07 Dec 2026 16:00:00 +0200", 1.0, 1.0, datetime.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),
])
def test_server_time(date, received, now, expected):
    assert server_time(date, received, now, LOCAL) == expected


def test_the_server_clock_comes_from_the_last_answer(no_ambient_credential):
    with _Server((404, {}, {"kind": "Status", "code": 404}), clock_offset=-3600) as server:
        mesh = server.client()
        before = mesh.server_now()
        assert mesh.lease("vms", "l") is None
        after = mesh.server_now()
    local = datetime.datetime.now(UTC)
    assert abs((before - local).total_seconds()) < 5               # no answer yet: this machine's clock
    assert abs((after - local).total_seconds() + 3600) < 5          # the server's, an hour behind


class _LockModule:
    """What mesh_lock.run reads of AnsibleModule."""
    check_mode = False

    def __init__(self, url, **params):
        self.params = dict({key: spec.get("default") for key, spec in mesh_lock.ARGUMENT_SPEC.items()},
                           host=url, api_key="tok-1", **params)
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def _lease(holder, renewed, duration=900):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "meshops-istio-vm-run", "namespace": "vms", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": renewed, "renewTime": renewed}}


def test_a_lease_renewed_on_the_servers_clock_is_held_whatever_this_machines_clock_says(no_ambient_credential):
    # The server's clock is an hour behind this machine's. Another run renewed the Lease 100 s ago by the server's
    # clock: held for 800 s more. On this machine's clock it ran out an hour ago, and the lock would be taken.
    renewed = (datetime.datetime.now(UTC) - datetime.timedelta(seconds=3600 + 100)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found = _lease("job 1 on awx-node-2", renewed)
    with _Server((200, {}, found), clock_offset=-3600) as server:
        module = _LockModule("http://127.0.0.1:%d" % server.httpd.server_port, namespaces=["vms"],
                             holder="job 2 on awx-node-1", timeout=0)
        with pytest.raises(MeshError) as err:
            mesh_lock.run(module)
    assert "job 1 on awx-node-2" in err.value.message and "renewed until" in err.value.message, err.value.message
    assert [r["method"] for r in server.requests] == ["GET"]         # read, not taken over


def test_a_new_lease_is_written_on_the_servers_clock(no_ambient_credential):
    missing = {"kind": "Status", "code": 404}
    with _Server((404, {}, missing), (201, {}, {}), clock_offset=7200) as server:
        module = _LockModule("http://127.0.0.1:%d" % server.httpd.server_port, namespaces=["vms"], holder="run 1")
        result = mesh_lock.run(module)
    assert result["actions"] == {"vms": "create"}
    written = server.requests[1]["body"]["spec"]
    renewed = datetime.datetime.strptime(written["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((renewed - datetime.datetime.now(UTC)).total_seconds() - 7200) < 5, written
