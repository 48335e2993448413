"""Reaching a Chroma server past plain HTTP: TLS, auth headers, tenant and database, hosted Chroma.

A recording reverse proxy (TLS with a certificate made here) stands in front of a real `chroma
run` server, as a gateway or a TLS-terminating load balancer would, so the test sees every
request newsqa makes and the server behind it is the real one.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import chromadb
import httpx
import pytest
from chromadb.config import Settings as ChromaSettings
from helpers import free_port

from vectorstore.chroma import make_client
from vectorstore.config import StoreSettings
from vectorstore.errors import StoreError
from vectorstore.store import NewsStore
from vectorstore.types import Article

TOKEN = "s3cret-token-value"


class RecordingProxy:
    """Forwards every request to `upstream`, keeping (method, path, headers) of each."""

    def __init__(self, upstream: str, cert: tuple[str, str] | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                proxy.requests.append((self.command, self.path, dict(self.headers.items())))
                reply = httpx.request(
                    self.command, upstream + self.path, content=body, headers=headers, timeout=30
                )
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*cert)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (its own CA bundle), made with openssl."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def articles() -> list[Article]:
    return [
        Article(
            id=f"a{i}",
            title=f"Harbour report {i}",
            text=f"The harbour board met on day {i} and approved a new pier for the ferry. " * 3,
            source="Test Wire",
            published=f"2024-05-0{i}",
        )
        for i in range(1, 4)
    ]


def direct(server, tenant="default_tenant", database="default_database"):
    return chromadb.HttpClient(
        host="127.0.0.1",
        port=server.port,
        tenant=tenant,
        database=database,
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def through(proxy: RecordingProxy, tmp_path, **extra) -> StoreSettings:
    """Store settings that reach Chroma over HTTPS through `proxy`, plus `extra`."""
    return StoreSettings(
        path=tmp_path / "local", chroma_host="127.0.0.1", chroma_port=proxy.port, chroma_ssl=True,
        **extra,
    )  # fmt: skip


def test_tls_headers_tenant_and_database_reach_the_server(
    tmp_path, fake_embeddings, chroma_server, certificate
):
    admin = chromadb.AdminClient(
        ChromaSettings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host="127.0.0.1",
            chroma_server_http_port=chroma_server.port,
            anonymized_telemetry=False,
        )
    )
    admin.create_tenant("newsroom")
    admin.create_database("city", tenant="newsroom")
    proxy = RecordingProxy(f"http://{chroma_server.address}", cert=certificate)
    try:
        settings = through(
            proxy,
            tmp_path,
            chroma_ssl_verify=certificate[0],
            chroma_headers={"X-Chroma-Token": TOKEN},
            chroma_tenant="newsroom",
            chroma_database="city",
        )
        store = NewsStore(settings, fake_embeddings)
        report = store.ingest(articles(), progress=False)
        assert len(report.added) == 3 and not report.failed
        assert store.count() == 3
        store.close()
    finally:
        proxy.close()
    # Every request went through TLS with the header, and the data is in newsroom/city only.
    assert len(proxy.requests) > 3
    assert all(headers.get("X-Chroma-Token") == TOKEN for _, _, headers in proxy.requests)
    assert any("/tenants/newsroom/databases/city/" in path for _, path, _ in proxy.requests)
    names = [c.name for c in direct(chroma_server, "newsroom", "city").list_collections()]
    assert sorted(names) == [settings.collection, f"{settings.collection}__changes"]
    assert direct(chroma_server).list_collections() == []
    assert "Chroma server at https://127.0.0.1" in settings.chroma_where
    assert TOKEN not in repr(settings)  # a header value is a secret: never in a repr or log


def test_an_untrusted_certificate_is_refused_by_default(tmp_path, chroma_server, certificate):
    proxy = RecordingProxy(f"http://{chroma_server.address}", cert=certificate)
    try:
        settings = through(proxy, tmp_path, chroma_headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(StoreError) as caught:
            make_client(settings)
    finally:
        proxy.close()
    message = str(caught.value)
    assert message.startswith(f"cannot open the Chroma server at https://127.0.0.1:{proxy.port}")
    assert "CERTIFICATE_VERIFY_FAILED" in message and TOKEN not in message
    assert proxy.requests == []  # nothing, the token least of all, was sent past the handshake


def test_hosted_chroma_gets_tenant_database_and_key(tmp_path, monkeypatch):
    """CloudClient cannot be reached from here: check what newsqa hands it, and the heartbeat."""
    seen: dict = {}

    def fake_get(url, **kwargs):
        seen["heartbeat"] = (url, kwargs["headers"])
        return httpx.Response(200, json={}, request=httpx.Request("GET", url))

    def fake_cloud(**kwargs):
        seen["cloud"] = kwargs
        return object()

    monkeypatch.setattr(httpx, "get", fake_get)
    monkeypatch.setattr(chromadb, "CloudClient", fake_cloud)
    settings = StoreSettings(
        path=tmp_path,
        chroma_cloud=True,
        chroma_api_key="ck-key",
        chroma_tenant="t-1",
        chroma_database="news-db",
    )
    assert settings.remote and settings.chroma_where == "hosted Chroma at api.trychroma.com"
    make_client(settings)
    assert seen["heartbeat"] == (
        "https://api.trychroma.com:443/api/v2/heartbeat",
        {"X-Chroma-Token": "ck-key"},
    )
    cloud = seen["cloud"]
    assert (cloud["tenant"], cloud["database"], cloud["api_key"]) == ("t-1", "news-db", "ck-key")
    assert (cloud["cloud_host"], cloud["cloud_port"], cloud["enable_ssl"]) == (
        "api.trychroma.com",
        443,
        True,
    )
