#!/usr/bin/env python3
"""A controllable HTTP/1.1 server on 127.0.0.1 for the http block's tests.

It listens on two free ports (the second one is a redirect target) and
prints "PORTS <first> <second> <blackhole>" on standard output once both
accept connections. <blackhole> is a listening socket whose accept queue is
kept full, so a connection attempt to it hangs: the connect-timeout case.
It runs until it receives SIGTERM or its standard input closes.

Endpoints (query parameters in brackets):
  /echo                 method, path, query, headers and body as JSON
  /slow [ms]            waits, then answers 200 with JSON
  /flaky [key, fail, status, retry_after]
                        answers `status` (503) `fail` times per key, then 200
  /status/N [key]       answers status N with a JSON body
  /count [key]          how many requests /flaky and /status saw for `key`,
                        and when (seconds, monotonic clock)
  /limited [key, fail, after, date]
                        429 with Retry-After (seconds, or an HTTP date when
                        date=1) `fail` times per key, then 200
  /huge [bytes, chunked]
                        a body of `bytes` bytes; chunked=1 sends no length
  /redirect-loop [n]    302 to itself, forever
  /redirect [to, status]
                        `status` (302) to the URL `to`
  /json, /binary, /text typed bodies
"""

import email.utils
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HITS = {}
HITS_LOCK = threading.Lock()


def record_hit(key):
    """Count a request for `key` and return how many came before it."""
    with HITS_LOCK:
        times = HITS.setdefault(key, [])
        times.append(time.monotonic())
        return len(times) - 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class names it
        pass

    def send(self, status, body, content_type="application/json", headers=None, chunked=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 65536
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body = self.read_body()
        path = url.path
        key = query.get("key", "default")

        if path == "/echo":
            self.send(200, {
                "method": self.command,
                "path": path,
                "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            })
        elif path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000.0)
            self.send(200, {"slept_ms": int(query.get("ms", "1000"))})
        elif path == "/flaky":
            seen = record_hit(key)
            if seen < int(query.get("fail", "1")):
                headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else None
                self.send(int(query.get("status", "503")), {"attempt": seen + 1}, headers=headers)
            else:
                self.send(200, {"attempt": seen + 1})
        elif path.startswith("/status/"):
            record_hit(key)
            status = int(path[len("/status/"):])
            self.send(status, {"status": status})
        elif path == "/count":
            with HITS_LOCK:
                times = list(HITS.get(key, []))
            self.send(200, {"count": len(times), "times": times})
        elif path == "/limited":
            seen = record_hit(key)
            if seen < int(query.get("fail", "1")):
                after = int(query.get("after", "1"))
                if query.get("date") == "1":
                    value = email.utils.formatdate(time.time() + after, usegmt=True)
                else:
                    value = str(after)
                self.send(429, {"limited": True}, headers={"Retry-After": value})
            else:
                self.send(200, {"attempt": seen + 1})
        elif path == "/huge":
            size = int(query.get("bytes", "1048576"))
            self.send(200, b"x" * size, "application/octet-stream", chunked=query.get("chunked") == "1")
        elif path == "/redirect-loop":
            n = int(query.get("n", "0"))
            self.send(302, "", "text/plain", headers={"Location": "/redirect-loop?n=%d" % (n + 1)})
        elif path == "/redirect":
            status = int(query.get("status", "302"))
            self.send(status, "", "text/plain", headers={"Location": query.get("to", "/echo")})
        elif path == "/json":
            self.send(200, {"name": "beamline", "values": [1, 2, 3], "nested": {"ok": True}})
        elif path == "/binary":
            self.send(200, bytes(range(256)), "application/octet-stream")
        elif path == "/text":
            self.send(200, "plain text, caf\u00e9", "text/plain; charset=utf-8")
        elif path == "/http09":
            self.close_connection = True
            self.wfile.write(b"a body without a status line")
        elif path == "/bad-json":
            self.send(200, "{not json", "application/json")
        else:
            self.send(404, {"error": "no such endpoint", "path": path})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: with dozens of clients
    # connecting at once the kernel drops SYNs and ACKs, and requests stall
    # for seconds in TCP retransmission.
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Tests cancel and time out requests on purpose: a client that went
        # away is expected, anything else is printed as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def blackhole():
    """A listening socket whose accept queue is full, so SYNs are dropped."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(listener.getsockname())
        except BlockingIOError:
            pass
        fillers.append(s)
    return listener, fillers


def main():
    servers = [Server(("127.0.0.1", 0), Handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    hole, fillers = blackhole()
    ports = [s.server_address[1] for s in servers] + [hole.getsockname()[1]]

    # Exit at once on either signal. A SIGTERM handler that set an Event
    # could deadlock: it runs on the main thread, which may hold the
    # Event's lock just then (waking up because stdin closed).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    print("PORTS %d %d %d" % tuple(ports), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
