# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""One GET from the VM (the package download, the sidecar's readiness endpoint), answered as
ansible.module_utils.urls.fetch_url answers, without what fetch_url needs the module for.

fetch_url points Python's temporary files at the module's temporary directory, which
AnsibleModule creates on first use under remote_tmp: on a VM without ``~/.ansible/tmp`` (a fresh
one, with pipelining) that prints Ansible's warning "Module remote_tmp ... did not exist and was
created with a mode of 0700" on every first run. ``get`` makes the request open_url makes with
fetch_url's defaults for a module without URL options instead (through open_url's own
``Request``, with one TLS context for all the requests of the process), and words its answer the
same way.

``ansible.module_utils.urls`` (and the HTTP client it brings) is imported by ``get``, not with this
module: a module run that asks nothing (the first read of a VM whose sidecar is not running) does
not import it.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Tuple


def _headers(message: Any) -> Dict[str, str]:
    """The headers of an answer, names in lower case; a repeated header's values joined by ", "."""
    found: Dict[str, str] = {}
    for name, value in message.items():
        name = name.lower()
        found[name] = ", ".join((found[name], value)) if name in found else value
    return found


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    """The TLS context of this process's requests, built by the first as open_url builds one for each
    request (make_context: certificates checked against the system's CAs). Loading the CAs takes
    about 0.03 s of CPU on a lab VM; a readiness wait asks many times in one module run."""
    from ansible.module_utils.urls import make_context

    return make_context()


def get(url: str, timeout: float, use_proxy: bool = True) -> Tuple[Optional[Any], Dict[str, Any]]:
    """GET ``url``: (the response, None without an answer; info). An HTTP error status comes as
    fetch_url gives it: its HTTPError, closed, as the response. ``info`` holds the answer's
    headers (names in lower case), ``url``, ``status`` (-1 without an answer) and ``msg``, worded as
    fetch_url words them ("OK (N bytes)", "HTTP Error 404: Not Found", "Request failed: ...",
    "Connection failure: ..."). As fetch_url does for a module without URL options: proxies from
    the environment, certificates checked, redirects followed as urllib follows them, gzip
    decoded, user agent ansible-httpget. ``use_proxy`` false: never through a proxy, whatever the
    environment says (a request to an endpoint on this host). A URL urllib cannot open (ValueError)
    or a ConnectionError it did not wrap is an answer with status -1 (fetch_url would end the module)."""
    import http.client
    import urllib.error

    from ansible.module_utils.urls import Request, get_user_agent

    info: Dict[str, Any] = {"url": url, "status": -1}
    response: Optional[Any] = None
    try:
        response = Request().open("GET", url, timeout=timeout, http_agent=get_user_agent(), use_proxy=use_proxy,
                                  context=_context())
    except urllib.error.HTTPError as e:
        try:
            info.update(_headers(e.info()))
        except Exception:  # pylint: disable=broad-except  # an HTTPError without headers
            pass
        info.update(msg=str(e), status=e.code)
        e.close()
        response = e
    except urllib.error.URLError as e:
        info.update(msg="Request failed: %s" % e, status=int(getattr(e, "code", -1)))
    except (ConnectionError, ValueError) as e:
        info.update(msg=str(e))
    except OSError as e:
        info.update(msg="Connection failure: %s" % e)
    except http.client.BadStatusLine as e:
        info.update(msg="Connection failure: connection was closed before a valid response was received: %s"
                    % e.line)
    except Exception as e:  # pylint: disable=broad-except  # fetch_url's last resort, worded as it words it
        info.update(msg="An unknown error occurred: %s" % e)
    else:
        info.update(_headers(response.headers))
        info.update(msg="OK (%s bytes)" % response.headers.get("Content-Length", "unknown"),
                    url=response.geturl(), status=response.code)
    return response, info
