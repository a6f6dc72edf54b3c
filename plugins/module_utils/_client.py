# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The one seam between the modules and the Kubernetes API.

Built on the ``kubernetes`` Python client's configuration (kubeconfig, in-cluster, exec and OIDC
credentials) and connection pool, with the REST paths of the few kinds it handles: no dynamic
client, no API discovery per task, and none of the typed API classes (see MeshClient.request).
Every failure is raised as ``MeshError`` with the object and what to do.

Every call goes through ``MeshClient._attempt``: a 429, a 500/502/503/504 or a lost connection
is tried again after a backoff (``retry_delay``), within ``RetryPolicy``'s bound on attempts and
time. All calls the modules make are safe to repeat: reads, server-side apply, deletes (a 404
counts as gone) and TokenRequests.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import os
import random
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple
from urllib.parse import quote, urlencode

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, WaitTimeout
from ansible_collections.meshops.istio_vm.plugins.module_utils._poll import poll

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import MaxRetryError, ProtocolError, SSLError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout
    from yaml import YAMLError   # the kubernetes client's kubeconfig loader reads YAML with PyYAML
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module through missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

    class ApiException(Exception):  # type: ignore[no-redef]
        status = 0
        body = ""

    class Urllib3Error(Exception):  # type: ignore[no-redef]
        pass

    class MaxRetryError(Urllib3Error):  # type: ignore[no-redef]
        reason = None

    class ProtocolError(Urllib3Error):  # type: ignore[no-redef]
        pass

    class YAMLError(Exception):  # type: ignore[no-redef]
        pass

    class SSLError(Urllib3Error):  # type: ignore[no-redef]
        pass

    class Urllib3Timeout(Urllib3Error):  # type: ignore[no-redef]
        pass

FIELD_MANAGER = "meshops.istio_vm"
_RAISE = object()   # MeshClient._attempt: a missing object is an error
APPLY_PATCH = "application/apply-patch+yaml"

# kind -> (group, version, plural)
ISTIO_KINDS = {
    "WorkloadEntry": ("networking.istio.io", "v1", "workloadentries"),
    "WorkloadGroup": ("networking.istio.io", "v1", "workloadgroups"),
    "ServiceEntry": ("networking.istio.io", "v1", "serviceentries"),
    "Sidecar": ("networking.istio.io", "v1", "sidecars"),
}

# kind -> (the API's path, plural, namespaced): every kind the client reads or writes
KINDS = dict({kind: ("/apis/%s/%s" % (group, version), plural, True) for kind, (group, version, plural)
              in ISTIO_KINDS.items()},
             Namespace=("/api/v1", "namespaces", False),
             ServiceAccount=("/api/v1", "serviceaccounts", True),
             Service=("/api/v1", "services", True),
             ConfigMap=("/api/v1", "configmaps", True),
             Deployment=("/apis/apps/v1", "deployments", True),
             Lease=("/apis/coordination.k8s.io/v1", "leases", True))


def api_path(kind: str, namespace: Optional[str] = None, name: Optional[str] = None,
             subresource: Optional[str] = None) -> str:
    """The REST path of ``kind``'s collection in ``namespace`` (every namespace without one), of the
    object ``name`` in it, or of its ``subresource``. Names go into the path quoted."""
    prefix, plural, namespaced = KINDS[kind]
    parts = [prefix]
    if namespaced and namespace:
        parts.append("namespaces/" + quote(namespace, safe=""))
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def query_string(params: Dict[str, Any]) -> str:
    """``?a=b&...`` of the parameters that are set (booleans as ``true``/``false``), or ``""``."""
    pairs = [(key, ("true" if value else "false") if isinstance(value, bool) else str(value))
             for key, value in params.items() if value is not None and value != ""]
    return "?" + urlencode(pairs) if pairs else ""


class _Answer:
    """An HTTP answer in the shape the client's ApiException reads (``status``, ``reason``, ``data``,
    ``headers``, ``getheaders()``), the same for every release of the client this collection supports."""

    def __init__(self, status: int, reason: str, data: bytes, headers: Any) -> None:
        self.status, self.reason, self.data, self.headers = status, reason, data, headers

    def getheaders(self) -> Any:
        return self.headers


class RetryPolicy(NamedTuple):
    """How often, and for how long, a call is tried again (the bound of ``MeshClient._attempt``)."""
    attempts: int = 5           # calls in all, the first included
    budget: float = 30.0        # seconds from the first call after which no new attempt starts
    base: float = 0.5           # the first backoff; it doubles with each attempt ...
    cap: float = 8.0            # ... up to this many seconds
    retry_after_cap: float = 10.0   # the most a server's Retry-After is honoured


RETRY_POLICY = RetryPolicy()
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """The delay a Retry-After header asks for, when it is a number of seconds (not an HTTP date)."""
    try:
        seconds = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def retry_delay(policy: RetryPolicy, attempt: int, elapsed: float, retry_after: Optional[float] = None,
                jitter: float = 0.0) -> Optional[float]:
    """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed with a
    retryable error, ``elapsed`` seconds after the first call; None when the bound is reached.

    The server's Retry-After wins (capped at ``retry_after_cap``); otherwise the backoff doubles
    from ``base`` up to ``cap``, lengthened by up to a quarter by ``jitter`` (0 to 1), so that
    parallel runs do not come back in step. No wait ends beyond ``budget``.
    """
    if attempt >= policy.attempts:
        return None
    if retry_after is not None:
        delay = min(retry_after, policy.retry_after_cap)
    else:
        delay = min(policy.base * 2 ** (attempt - 1), policy.cap) * (1 + 0.25 * jitter)
    if elapsed + delay > policy.budget:
        return None
    return delay


def retryable(exc: Exception) -> Optional[str]:
    """What makes ``exc`` worth another attempt ("503 Service Unavailable", "connection refused"...),
    or None: only overload, a server error of a gateway or the API server, or a lost connection;
    never a TLS failure or an answer about the request itself."""
    if isinstance(exc, ApiException):
        if exc.status in RETRY_STATUSES:
            return ("%s %s" % (exc.status, exc.reason or "")).strip()
        return None
    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    if isinstance(reason, SSLError):
        return None
    if isinstance(reason, (Urllib3Timeout, ProtocolError, ConnectionError)):
        text = reason.args[0] if reason.args and isinstance(reason.args[0], str) else str(reason)
        return text.rsplit(": ", 1)[-1] or type(reason).__name__
    return None


def _api_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body)
        return body.get("message") or str(exc.reason)
    except (TypeError, ValueError):
        return str(getattr(exc, "body", "") or getattr(exc, "reason", "") or exc)


class NotJsonAnswer(ValueError):
    """A 2xx answer whose body is not JSON: not the API server's (a proxy's or a login page's)."""

    def __init__(self, status: int, content_type: str, size: int) -> None:
        super().__init__("status %d, Content-Type %s, %d bytes" % (status, content_type or "unset", size))
        self.status = status


def server_time(date: Optional[str], received: float, monotonic_now: float,
                local_now: datetime.datetime) -> datetime.datetime:
    """The API server's time now: the ``Date`` header of an answer (whole seconds, as HTTP gives it)
    plus the seconds since it arrived (``received`` and ``monotonic_now`` on this process's
    monotonic clock). ``local_now`` (this machine's clock) without a readable ``Date``. A date without a
    zone (asctime's format, or ``-0000``) is UTC, as every HTTP date is (RFC 9110, section 5.6.7)."""
    try:
        then = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        then = None
    if then is None:
        return local_now
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.timezone.utc)
    return then.astimezone(datetime.timezone.utc) + datetime.timedelta(seconds=max(0.0, monotonic_now - received))


class MeshClient:
    """Reads and writes the objects the modules manage. Raises MeshError only."""

    def __init__(self, api_client: Any, host: str = "", retry: RetryPolicy = RETRY_POLICY) -> None:
        self.api = api_client
        self.host = host or getattr(api_client.configuration, "host", "")
        self.retry = retry
        self.date: Tuple[Optional[str], float] = (None, 0.0)   # the last answer's Date header, and when it came

    def server_now(self) -> datetime.datetime:
        """The API server's time now, from the last answer's ``Date`` (server_time); this machine's
        clock before any answer. The times of a Lease are compared with it and written from it, so that
        runs on machines whose clocks differ agree on when a lock runs out."""
        return server_time(self.date[0], self.date[1], time.monotonic(), datetime.datetime.now(datetime.timezone.utc))

    def request(self, method: str, path: str, query: Optional[Dict[str, Any]] = None, body: Any = None,
                content_type: str = "application/json") -> Any:
        """One call of the REST API, its answer's JSON (None when empty). Raises the client's
        ApiException for any status other than 2xx, urllib3's errors when the API is not reached,
        NotJsonAnswer for a 2xx answer that is not JSON.

        The ApiClient gives the configuration (server, TLS, proxy, the credential and its refresh
        hook) and the connection pool; the typed API classes are not used: their modules import
        hundreds of model classes (CoreV1Api alone most of a second), and their calling convention
        differs between releases of the client."""
        conf = self.api.configuration
        headers = dict(getattr(self.api, "default_headers", None) or {}, Accept="application/json")
        # the credential as the client sends it (a bearer token; the kubeconfig's refresh hook runs)
        for setting in conf.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = json.dumps(body).encode("utf-8")
        resp = self.api.rest_client.pool_manager.request(method, conf.host + path + query_string(query or {}),
                                                         body=payload, headers=headers, preload_content=True)
        date = (resp.headers or {}).get("Date")
        if date:
            self.date = (date, time.monotonic())
        if not 200 <= resp.status <= 299:
            raise ApiException(http_resp=_Answer(resp.status, resp.reason, resp.data, resp.headers))
        if not resp.data:
            return None
        try:
            return json.loads(resp.data)
        except ValueError as exc:   # the body is not shown: it may be anything, even a credential
            raise NotJsonAnswer(resp.status, (resp.headers or {}).get("Content-Type", ""), len(resp.data)) from exc

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Dict[str, Any]) -> "MeshClient":
        if not HAS_KUBERNETES:
            raise MeshError("the kubernetes Python library is required: pip install kubernetes")
        conf = k8s_client.Configuration()
        kubeconfig = params.get("kubeconfig")
        context = params.get("context")
        if not (kubeconfig or params.get("host") or os.environ.get("KUBERNETES_SERVICE_HOST")
                or any(os.path.exists(os.path.expanduser(path))
                       for path in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep) if path)):
            raise MeshError("No cluster credential: none of kubeconfig (K8S_AUTH_KUBECONFIG), host + api_key "
                            "(K8S_AUTH_HOST, K8S_AUTH_API_KEY), KUBECONFIG or ~/.kube/config is set. In AWX, "
                            "attach the cluster credential to the job template; with the roles, "
                            "mesh_workload_kubeconfig also works.")
        try:
            if isinstance(kubeconfig, dict):
                k8s_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=conf)
            elif kubeconfig or context or not params.get("host"):
                path = os.path.expanduser(kubeconfig) if kubeconfig else None
                if path is None and not os.path.exists(os.path.expanduser("~/.kube/config")) \
                        and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    k8s_config.load_incluster_config(client_configuration=conf)
                else:
                    k8s_config.load_kube_config(config_file=path, context=context, client_configuration=conf)
        except (k8s_config.ConfigException, OSError, ValueError, TypeError, YAMLError) as exc:
            raise MeshError("Cannot load the cluster credential (kubeconfig=%s, context=%s): %s. "
                            "Set kubeconfig/K8S_AUTH_KUBECONFIG or host and api_key."
                            % (kubeconfig if not isinstance(kubeconfig, dict) else "<dict>", context, exc))
        if params.get("host"):
            conf.host = params["host"]
        if params.get("api_key"):
            # a bearer token replaces the kubeconfig user's credentials
            conf.api_key = {"authorization": "Bearer " + params["api_key"]}
            conf.api_key_prefix = {}
            # the kubeconfig loader's hook would put the user's token back before every call
            conf.refresh_api_key_hook = None
            conf.cert_file = conf.key_file = None
        if params.get("validate_certs") is not None:
            conf.verify_ssl = params["validate_certs"]
        for option, attr in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"),
                             ("client_key", "key_file"), ("proxy", "proxy")):
            if params.get(option):
                setattr(conf, attr, params[option])
        # no retries inside urllib3: MeshClient._attempt is the one place that retries
        conf.retries = 0
        return cls(k8s_client.ApiClient(conf), conf.host)

    # -- error mapping -------------------------------------------------------------------------
    def _fail(self, verb: str, what: str, exc: Exception) -> MeshError:
        if isinstance(exc, ApiException):
            status, msg = exc.status, _api_message(exc)
            if status == 401:
                return MeshError("Failed to %s %s: the cluster rejected the credential (401 Unauthorized). "
                                 "Check the token or client certificate of the kubeconfig/api_key." % (verb, what),
                                 {"status": status})
            if status == 403:
                return MeshError("Failed to %s %s: forbidden by RBAC: %s. Grant the credential's user "
                                 "this permission." % (verb, what, msg), {"status": status})
            if status == 404 and "could not find the requested resource" in msg:
                return MeshError("Failed to %s %s: the API does not serve this kind; are the Istio CRDs "
                                 "installed?" % (verb, what), {"status": status})
            if status == 409 and "conflict" in msg.lower():
                return MeshError("Failed to %s %s: %s. Another field manager changed these fields; set "
                                 "force_conflicts: true to take them back." % (verb, what, msg),
                                 {"status": status})
            return MeshError("Failed to %s %s: %s" % (verb, what, msg), {"status": status})
        return MeshError("Failed to %s %s: cannot reach the Kubernetes API at %s: %s"
                         % (verb, what, self.host, exc))

    def _call(self, verb: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._attempt(verb, what, _RAISE, fn, *args, **kwargs)

    def _attempt(self, verb: str, what: str, missing: Any, fn: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> Any:
        """``fn(...)``, tried again while ``retryable`` says so and ``self.retry`` allows; ``missing``
        when the object is not there (404, but not when its kind is not served), unless it is
        ``_RAISE``. The error of the last attempt names how many were made."""
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except NotJsonAnswer as exc:
                raise MeshError("Failed to %s %s: the answer from %s is not JSON (%s); is host or the proxy "
                                "the Kubernetes API server?" % (verb, what, self.host, exc),
                                {"status": exc.status}) from exc
            except (ApiException, Urllib3Error, OSError) as exc:
                if (missing is not _RAISE and isinstance(exc, ApiException) and exc.status == 404
                        and "could not find the requested resource" not in _api_message(exc)):
                    return missing
                why = retryable(exc)
                header = (getattr(exc, "headers", None) or {}).get("Retry-After") if why else None
                delay = None if why is None else retry_delay(
                    self.retry, attempt, time.monotonic() - started, retry_after_seconds(header), random.random())
                if delay is None:
                    error = self._fail(verb, what, exc)
                    if why is not None:   # the bound, not the error, ended the attempts
                        error = MeshError("%s (gave up after %d attempts in %.1fs; last: %s)" % (
                            error.message, attempt, time.monotonic() - started, why),
                            dict(error.details, attempts=attempt))
                    raise error from exc
                time.sleep(delay)
                attempt += 1

    # -- Istio objects -------------------------------------------------------------------------
    @staticmethod
    def describe(kind: str, namespace: Optional[str], name: str) -> str:
        return "%s %s" % (kind, "/".join(part for part in (namespace, name) if part))

    def _or_missing(self, verb: str, what: str, missing: Any, fn: Callable[..., Any], *args: Any,
                    **kwargs: Any) -> Any:
        """``fn(...)``, or ``missing`` when the object is not there (but not when its kind is not served)."""
        return self._attempt(verb, what, missing, fn, *args, **kwargs)

    def get(self, kind: str, namespace: Optional[str], name: str) -> Optional[Dict[str, Any]]:
        return self._or_missing("read", self.describe(kind, namespace, name), None,
                                self.request, "GET", api_path(kind, namespace, name))

    def list(self, kind: str, namespace: str, label_selector: str = "") -> List[Dict[str, Any]]:
        res = self._call("list", "%s in namespace %s" % (kind, namespace), self.request, "GET",
                         api_path(kind, namespace), {"labelSelector": label_selector}) or {}
        if kind in ISTIO_KINDS:
            return res.get("items") or []
        # the items of a built-in kind's LIST come without apiVersion and kind; a GET has them
        return [dict(item, apiVersion=res.get("apiVersion", "v1"), kind=kind) for item in res.get("items") or []]

    def list_all(self, kind: str, label_selector: str = "") -> List[Dict[str, Any]]:
        """Objects of ``kind`` in every namespace (needs cluster-wide list permission)."""
        res = self._call("list", "%s in all namespaces" % kind, self.request, "GET", api_path(kind),
                         {"labelSelector": label_selector}) or {}
        return res.get("items") or []

    def apply(self, obj: Dict[str, Any], dry_run: bool = False, force: bool = False) -> Dict[str, Any]:
        """Server-side apply of ``obj``: the object as the API server stored it (or would, ``dry_run``)."""
        kind, meta = obj["kind"], obj["metadata"]
        query = {"fieldManager": FIELD_MANAGER, "force": force, "dryRun": "All" if dry_run else None}
        return self._call("apply", self.describe(kind, meta.get("namespace"), meta["name"]), self.request, "PATCH",
                          api_path(kind, meta.get("namespace"), meta["name"]), query, obj, APPLY_PATCH)

    def delete(self, kind: str, namespace: Optional[str], name: str, dry_run: bool = False) -> bool:
        """True when deleted, False when it was not there."""
        def call() -> bool:
            self.request("DELETE", api_path(kind, namespace, name), {"dryRun": "All" if dry_run else None})
            return True

        return self._or_missing("delete", self.describe(kind, namespace, name), False, call)

    # -- core objects used by the bootstrap --------------------------------------------------
    def config_map(self, namespace: str, name: str) -> Optional[Dict[str, str]]:
        cm = self.get("ConfigMap", namespace, name)
        return None if cm is None else (cm.get("data") or {})

    def service(self, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        return self.get("Service", namespace, name)

    def service_account_exists(self, namespace: str, name: str) -> bool:
        return self.get("ServiceAccount", namespace, name) is not None

    def create_token(self, namespace: str, service_account: str, audiences: List[str],
                     seconds: int) -> Dict[str, Any]:
        """TokenRequest; returns {'token': ..., 'expiration': ISO string}. Never log the token."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": list(audiences), "expirationSeconds": seconds}}
        res = self._call("request a token for", "ServiceAccount %s/%s" % (namespace, service_account),
                         self.request, "POST", api_path("ServiceAccount", namespace, service_account, "token"),
                         None, body) or {}
        status = (res.get("status") if isinstance(res, dict) else None) or {}
        token = status.get("token") if isinstance(status, dict) else None
        if not isinstance(token, str) or not token:
            raise MeshError("The API server answered the TokenRequest for ServiceAccount %s/%s without a token"
                            % (namespace, service_account))
        return {"token": token, "expiration": status.get("expirationTimestamp")}

    def list_config_maps(self, namespace: str, label_selector: str = "") -> List[Dict[str, Any]]:
        return self.list("ConfigMap", namespace, label_selector)

    def list_deployments(self, namespace: str, label_selector: str = "") -> List[Dict[str, Any]]:
        return self.list("Deployment", namespace, label_selector)

    # -- the run lock (coordination.k8s.io/v1 Lease, see _lock) -----------------------------------
    def lease(self, namespace: str, name: str) -> Optional[Dict[str, Any]]:
        """The Lease as raw JSON, or None when there is none (or no namespace of that name)."""
        return self.get("Lease", namespace, name)

    def write_lease(self, body: Dict[str, Any], create: bool) -> Any:
        """Create ``body`` (``create``) or update it on its resourceVersion: the Lease written, None
        when another run wrote first (409: it exists already, or it changed since it was read; or, for
        an update, 404: it was deleted since it was read), or ``False`` when the namespace does not
        exist (a create's 404)."""
        meta = body["metadata"]
        what = self.describe("Lease", meta["namespace"], meta["name"])
        method, path = ("POST", api_path("Lease", meta["namespace"])) if create else \
            ("PUT", api_path("Lease", meta["namespace"], meta["name"]))
        try:
            written = self._or_missing("create" if create else "update", what, False, self.request, method, path,
                                       None, body)
        except MeshError as exc:
            if exc.details.get("status") == 409:
                return None
            raise
        return None if written is False and not create else written

    def create_namespace(self, name: str) -> bool:
        """Create the namespace ``name`` (bare: whoever applies it later sets its labels); False when
        it exists already."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self._call("create", "Namespace %s" % name, self.request, "POST", api_path("Namespace"), None, body)
        except MeshError as exc:
            if exc.details.get("status") == 409:
                return False
            raise
        return True

    def delete_lease(self, namespace: str, name: str, resource_version: str) -> bool:
        """Delete the Lease only while it is at ``resource_version``: False when it is gone or changed."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"resourceVersion": resource_version}}

        def call() -> bool:
            self.request("DELETE", api_path("Lease", namespace, name), None, options)
            return True

        try:
            return self._or_missing("delete", self.describe("Lease", namespace, name), False, call)
        except MeshError as exc:
            if exc.details.get("status") == 409:
                return False
            raise

    # -- what the credential may do ------------------------------------------------------------
    def can_i(self, attributes: Dict[str, str]) -> bool:
        """SelfSubjectAccessReview of ``attributes`` (verb, group, resource, subresource, namespace,
        name): whether the credential may do it. Allowed for every authenticated user."""
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {key: value for key, value in attributes.items() if value is not None}}}
        res = self._call("review", "access (SelfSubjectAccessReview)", self.request, "POST",
                         "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", None, body) or {}
        return bool((res.get("status") or {}).get("allowed"))

    def whoami(self) -> str:
        """The credential's user name (SelfSubjectReview), or "" when the API server does not say."""
        try:
            res = self.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", None,
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}) or {}
            return ((res.get("status") or {}).get("userInfo") or {}).get("username") or ""
        except (ApiException, Urllib3Error, OSError, AttributeError, ValueError):
            return ""


def warm_up() -> None:
    """Import now what a task's first API call would import. The action plugins call it in Ansible's
    main process, which forks a worker per task: each worker then finds it imported. The client's
    configuration and connection pool are all the calls need (see MeshClient.request)."""
    if HAS_KUBERNETES:
        for name in ("ApiClient", "Configuration"):
            getattr(k8s_client, name, None)


def remove_credential_files() -> None:
    """Remove the files the kubernetes library wrote a kubeconfig's inline credentials to
    (``client-key-data``, ``client-certificate-data``, ``certificate-authority-data``: the private key
    among them). The library removes them when the process exits normally (atexit); an Ansible worker
    ends with ``os._exit``, so the action plugins call this when their task is done, or every cluster
    task run in the controller's worker left the key behind in the temporary directory."""
    cleanup = getattr(k8s_config.kube_config, "_cleanup_temp_files", None) if HAS_KUBERNETES else None
    if cleanup is not None:
        cleanup()


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy (_poll.poll); raise WaitTimeout (a MeshError)
    naming ``what`` on timeout. An error of ``check`` itself passes through."""
    result, _attempts = poll(check, bool, timeout, interval)
    if not result:
        raise WaitTimeout("Timed out after %ss waiting for %s" % (timeout, what))
    return result
