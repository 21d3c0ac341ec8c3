"""A small OpenAI-compatible chat-completions server on loopback, for the LLM tests.

litellm talks to it through `api_base` exactly as it talks to OpenAI or vLLM: plain JSON
answers, server-sent events when `stream` is true (with a final usage chunk when the client
asks for `stream_options.include_usage`), and the errors providers send (401, 429, 500).
Each request takes the next `Reply` from the script (the last one repeats), so a test says
what the provider does and then asserts what the cockpit made of it. Requests are recorded
(headers and body) so a test can see what was sent.

Use the fixture: `from tests.llm_server import llm_server` and `llm_server.script = [...]`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """What the server does with one request."""

    text: str = "ok"
    status: int = 200
    error: str = ""  # the provider's error message for a non-200 status
    retry_after: str | None = None
    delay_s: float = 0.0  # before the first byte: a slow provider
    chunk_delay_s: float = 0.0  # between streamed chunks
    chunks: int = 0  # 0: about one chunk per word
    disconnect_after: int | None = None  # close the socket after this many chunks
    usage: bool = True  # report token usage
    prompt_tokens: int = 11
    completion_tokens: int | None = None  # default: one per word of `text`


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ChatServer:
    url: str  # the api_base: http://127.0.0.1:PORT/v1
    script: list[Reply] = field(default_factory=lambda: [Reply()])
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _split(text: str, chunks: int) -> list[str]:
    if chunks <= 0:
        words = text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    size = max(1, -(-len(text) // chunks))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        reply = self.server.chat.next_reply(request)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            self._send_json(
                reply.status,
                {"error": {"message": reply.error or "error", "type": "error", "code": None}},
                {"Retry-After": reply.retry_after} if reply.retry_after else {},
            )
            return
        completion_tokens = reply.completion_tokens or max(1, len(reply.text.split()))
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": reply.prompt_tokens + completion_tokens,
        }
        model = body.get("model", "test-model")
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply.text}
            self._send_json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    **({"usage": usage} if reply.usage else {}),
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for i, piece in enumerate(_split(reply.text, reply.chunks)):
            if reply.disconnect_after is not None and i >= reply.disconnect_after:
                # Half a chunk, then the connection drops: the client sees a broken stream.
                self.wfile.write(b'40\r\ndata: {"id"')
                self.wfile.flush()
                self.connection.shutdown(2)
                self.close_connection = True
                return
            self._event(self._chunk(model, {"content": piece}, None))
            if reply.chunk_delay_s:
                time.sleep(reply.chunk_delay_s)
        self._event(self._chunk(model, {}, "stop"))
        if include_usage and reply.usage:
            final = self._chunk(model, {}, None)
            final["choices"] = []
            final["usage"] = usage
            self._event(final)
        self._raw(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    @staticmethod
    def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _event(self, payload: dict[str, Any]) -> None:
        self._raw(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _raw(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    chat: ChatServer


@pytest.fixture
def llm_server() -> Iterator[ChatServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.chat = ChatServer(url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.chat
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
