"""A loopback HTTP server replaying Semantic Scholar / OpenAlex answers (canned JSON, or raw
bytes for malformed answers, with any status and headers such as Retry-After), recording the
queries and headers it got. Point a client at it with base_url, or the app with
COCKPIT_S2_URL / COCKPIT_OPENALEX_URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

# One Semantic Scholar /paper/search answer, in the API's shape.
S2_HIT = {
    "total": 1,
    "offset": 0,
    "data": [
        {
            "paperId": "abc",
            "title": "Layer-wise Adaptive Rate Scaling",
            "year": 2017,
            "venue": "arXiv",
            "citationCount": 900,
            "url": "https://www.semanticscholar.org/paper/abc",
            "abstract": "LARS scales each layer's learning rate.",
            "externalIds": {"DOI": "10.1/x"},
        }
    ],
}


@dataclass
class Canned:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class PaperServer:
    url: str
    script: list[Canned] = field(default_factory=list)
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


class _PaperHandler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        paper: PaperServer = self.server.paper
        paper.queries.append(parse_qs(urlparse(self.path).query))
        paper.headers.append({k.lower(): v for k, v in self.headers.items()})
        reply = paper.script.pop(0) if len(paper.script) > 1 else paper.script[0]
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def papers() -> Iterator[PaperServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PaperHandler)
    server.daemon_threads = True
    server.paper = PaperServer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.paper
    server.shutdown()
    server.server_close()
