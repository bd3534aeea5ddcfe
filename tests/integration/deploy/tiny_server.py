"""A stand-in model server for supervisor tests: answers ``/v2/health/ready`` with 200.

``python tiny_server.py PORT [--never-ready]``; prints one line per start so tests can
count starts in the deployment's log file.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> None:
    port = int(sys.argv[1])
    ready = "--never-ready" not in sys.argv

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if ready and self.path == "/v2/health/ready" else 503
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    print(f"tiny server on {port}", flush=True)  # noqa: T201 - goes to the deployment log
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
