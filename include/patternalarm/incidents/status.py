"""The sink's small HTTP status endpoint (127.0.0.1 by default) and a client for it.

``GET /status`` — JSON: state, counters, throughput, lag per partition (always 200).
``GET /healthz`` — 200 when consuming and alive, 503 otherwise.
``GET /metrics`` — the same figures in Prometheus' text format.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from include.patternalarm.incidents.metrics import SinkMetrics, prometheus_text


class StatusServer:
    def __init__(self, metrics: SinkMetrics, host: str, port: int) -> None:
        self._metrics = metrics
        metrics_ref = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if path in ("", "/status"):
                    self._send(200, "application/json", json.dumps(metrics_ref.snapshot(), indent=2))
                elif path == "/healthz":
                    healthy = metrics_ref.healthy()
                    self._send(200 if healthy else 503, "text/plain", "ok\n" if healthy else "unhealthy\n")
                elif path == "/metrics":
                    self._send(200, "text/plain; version=0.0.4", prometheus_text(metrics_ref.snapshot()))
                else:
                    self._send(404, "text/plain", "not found: try /status, /healthz or /metrics\n")

            def _send(self, code: int, content_type: str, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log in the sink's log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sink-status", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def fetch_status(host: str, port: int, timeout: float = 3.0) -> dict[str, Any]:
    """The status of the sink listening on ``host:port``; raises ``ConnectionError`` when none answers."""
    url = f"http://{host}:{port}/status"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"no incident sink answers on {url} ({reason})") from None
