"""A fixed-latency OpenAI-compatible chat server on 127.0.0.1, standing in for an inference server
when measuring newsqa's own (app-side) concurrency. Never a measure of answer quality.

POST /v1/chat/completions, plain or streamed (`"stream": true`, server-sent events). Each call
waits `--latency` seconds (a sleep: it takes no CPU from the app being measured), then answers in
newsqa's answer-first form with the passage sentence sharing most words with the question
("Answer: <sentence> [n]"), or "Answer: none" when none shares two. Calls are served in
parallel, as a batching server would serve them. GET /stats gives the calls served.

    .venv/bin/python scripts/stub_openai.py --port 8011 --latency 2
    NEWSQA_LLM__PROVIDER=openai NEWSQA_LLM__BASE_URL=http://127.0.0.1:8011/v1 newsqa ui
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_WORD = re.compile(r"[a-z0-9]+")
_PASSAGE = re.compile(r"\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion: |\Z)", re.S)
_SMALL = {"the", "a", "an", "of", "in", "on", "to", "and", "what", "who", "did", "is", "was"}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _SMALL}


def reply_for(messages: list[dict]) -> str:
    """The answer a reader would give if it picked the sentence most like the question."""
    system = str(messages[0].get("content", "")) if messages else ""
    user = str(messages[-1].get("content", "")) if messages else ""
    if "Rewrite" in system:  # the follow-up rewrite: the last question as it stands
        found = re.search(r"Last question: (.*)", user)
        return found.group(1) if found else user
    question = _words(user.rsplit("Question: ", 1)[-1])
    best, best_n, best_score = "", "", 1
    for n, body in _PASSAGE.findall(user if "Question: " in user else system):
        for sentence in re.split(r"(?<=[.!?])\s+", body):
            score = len(_words(sentence) & question)
            if score > best_score:
                best, best_n, best_score = sentence.strip(), n, score
    return f"Answer: {best} [{best_n}]" if best else "Answer: none"


class JSONHandler(BaseHTTPRequestHandler):
    """A handler that answers JSON and logs nothing (the tests' servers use it too)."""

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class StubServer:
    """The server, in a thread of this process (tests) or as the script's main loop."""

    def __init__(self, port: int = 0, latency: float = 2.0) -> None:
        self.latency, self.calls, self._lock = latency, 0, threading.Lock()
        owner = self

        class Handler(JSONHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                self._send(200, json.dumps({"calls": owner.calls}).encode())

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                    return
                time.sleep(owner.latency)
                with owner._lock:
                    owner.calls += 1
                text = reply_for(body.get("messages", []))
                common = {"id": "stub", "created": int(time.time()), "model": body["model"]}
                if not body.get("stream"):
                    message = {"role": "assistant", "content": text}
                    choice = {"index": 0, "message": message, "finish_reason": "stop"}
                    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                    reply = {**common, "object": "chat.completion", "choices": [choice]}
                    self._send(200, json.dumps({**reply, "usage": usage}).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = re.findall(r"\S+\s*", text) or [""]
                for n, piece in enumerate(pieces):
                    delta = {"content": piece} if n else {"role": "assistant", "content": piece}
                    chunk = {
                        **common,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                end = {
                    **common,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8011, help="port on 127.0.0.1 (8011)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per call (2)")
    args = parser.parse_args(argv)
    server = StubServer(args.port, args.latency)
    print(f"serving {server.url} ({args.latency:g} s per call)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
