"""The article's files for the self-tests, found in the suite's one lookup order
(certconform/article.py: --document, env CERTCONFORM_DOCUMENT, the cache, ../shared/spec-source).

A self-test that needs an edition and finds it nowhere fails in one line saying how to provide it
(`certconform document fetch`); it is never skipped."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from certconform.article import ArticleMissing, locate


def article(edition: str = "2022") -> Path:
    try:
        return locate(edition)
    except ArticleMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@contextmanager
def public_repository(files: dict[str, bytes] | None = None):
    """A local HTTP server standing in for the article's public repository: it serves
    /COMMIT/PATH for every pinned edition with that edition's bytes (or `files`, path -> bytes,
    for a server that misbehaves). Yields (base URL, list of the paths requested)."""
    from certconform.article import PINNED

    if files is None:
        files = {f"/{p.commit}/{p.path}": article(p.edition).read_bytes() for p in PINNED.values()}
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requested.append(self.path)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
