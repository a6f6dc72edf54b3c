# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meshlab-app: the workload that lab VMs run behind their sidecar (installed with a shebang
as /usr/local/bin/meshlab-app in every VM; standard library only, Python 3.11).

  meshlab-app http --port 8080 [--bind ADDR] [--name NAME] [--tls-cert F --tls-key F]
                   [--require-header 'Name: value']
      Answers every GET with 200 and a JSON echo of the request as the app saw it: its own
      name and host, the path, the peer address and the request headers (so a test reads the
      x-forwarded-client-cert that the callee's sidecar added). With --require-header a request
      without that exact header gets 403 (a probe with a wrong header fails).
  meshlab-app tcp-echo --port 3550 [--bind ADDR]
      Writes back every byte it reads, per connection.
"""
from __future__ import annotations

import argparse
import json
import socket
import socketserver
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def http_handler(name: str, required: tuple[str, str] | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "meshlab-app"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if required and self.headers.get(required[0]) != required[1]:
                self._answer(403, {"error": f"header {required[0]} missing or wrong"})
                return
            self._answer(200, {"service": name, "host": socket.gethostname(), "path": self.path,
                               "peer": self.client_address[0],
                               "headers": {k.lower(): v for k, v in self.headers.items()}})

        def _answer(self, status: int, doc: dict) -> None:
            body = (json.dumps(doc, sort_keys=True) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    return Handler


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class ThreadingTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meshlab-app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p_http = sub.add_parser("http")
    p_echo = sub.add_parser("tcp-echo")
    for p in (p_http, p_echo):
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--bind", default="0.0.0.0")
    p_http.add_argument("--name", default=socket.gethostname())
    p_http.add_argument("--tls-cert")
    p_http.add_argument("--tls-key")
    p_http.add_argument("--require-header", help="'Name: value'")
    args = parser.parse_args(argv)
    if args.mode == "tcp-echo":
        ThreadingTCPServer((args.bind, args.port), EchoHandler).serve_forever()
        return 0
    required = None
    if args.require_header:
        key, value = (args.require_header.split(":", 1) + [""])[:2]
        required = (key.strip(), value.strip())
    server = ThreadingHTTPServer((args.bind, args.port), http_handler(args.name, required))
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
