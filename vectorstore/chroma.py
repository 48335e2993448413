"""Reaching Chroma: a client for a folder or a server, and one error that says what failed.

chromadb raises many kinds of error (its own, httpx's, SQLite's, OSError); `store_errors` turns
any of them into one `StoreError` that names the store and the fix, with no secret in its text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError

from .config import CLOUD_HOST, StoreSettings
from .errors import StoreError, WrongDimension


def make_client(settings: StoreSettings) -> chromadb.ClientAPI:
    """A Chroma client: a server when `chroma_host` (or `chroma_cloud`) is set, else a folder."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.remote:
            return _http_client(settings, chroma_settings)
        settings.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.path), settings=chroma_settings)
    except Exception as exc:
        reason = _no_secrets(exc, settings)
        raise StoreError(f"cannot open the {settings.chroma_where}: {reason}") from exc


def _no_secrets(exc: Exception, settings: StoreSettings) -> str:
    """The error's text with every configured header value and the API key blanked out."""
    text = str(exc)
    secrets = [v.get_secret_value() for v in settings.chroma_headers.values()]
    if settings.chroma_api_key:
        secrets.append(settings.chroma_api_key.get_secret_value())
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def _http_client(settings: StoreSettings, chroma_settings: ChromaSettings) -> chromadb.ClientAPI:
    # chromadb's HTTP client waits forever on a server that accepts but never answers (a hung or
    # stopped process): ask its heartbeat with a deadline first, then bound every later request.
    headers = {k: v.get_secret_value() for k, v in settings.chroma_headers.items()}
    verify = settings.chroma_ssl_verify
    verify = str(verify) if isinstance(verify, Path) else verify  # a CA bundle, or on/off
    chroma_settings.chroma_server_ssl_verify = verify
    if settings.chroma_cloud:
        host, port, ssl = settings.chroma_host or CLOUD_HOST, 443, True
        if settings.chroma_api_key:
            headers.setdefault("X-Chroma-Token", settings.chroma_api_key.get_secret_value())
    else:
        host, port, ssl = settings.chroma_host, settings.chroma_port, settings.chroma_ssl
    url = f"{'https' if ssl else 'http'}://{host}:{port}/api/v2/heartbeat"
    httpx.get(
        url,
        headers=headers,
        timeout=settings.chroma_timeout,
        verify=verify,
    ).raise_for_status()
    if settings.chroma_cloud:
        client = chromadb.CloudClient(
            tenant=settings.chroma_tenant,
            database=settings.chroma_database,
            api_key=settings.chroma_api_key.get_secret_value() if settings.chroma_api_key else None,
            settings=chroma_settings,
            cloud_host=host,
            cloud_port=port,
            enable_ssl=True,
        )
    else:
        client = chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=headers or None,
            settings=chroma_settings,
            tenant=settings.chroma_tenant,
            database=settings.chroma_database,
        )
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):  # a private attribute: skip if chromadb renames it
        session.timeout = httpx.Timeout(
            settings.chroma_timeout, connect=min(5.0, settings.chroma_timeout)
        )
    return client


# --- errors -----------------------------------------------------------------------------------
_STORE_FAILURES = (StoreError, httpx.HTTPError, OSError, sqlite3.Error, ChromaError)


@contextmanager
def store_errors(settings: StoreSettings) -> Iterator[None]:
    """Turn a failure to reach or read Chroma into one StoreError naming the store and the fix."""
    try:
        yield
    except _STORE_FAILURES as exc:
        if isinstance(exc, WrongDimension) or (isinstance(exc, StoreError) and not settings.remote):
            raise  # the store's own message already names its folder, or the setting at fault
        raise store_error(exc, settings) from exc


def store_error(exc: BaseException, settings: StoreSettings) -> StoreError:
    """A one-line StoreError: which store failed, why (the innermost cause), how to fix it."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    inner = chain[-1]
    reason = (str(inner).strip().splitlines() or [type(inner).__name__])[0][:120]
    if not settings.remote:
        return StoreError(
            f"the Chroma store in {settings.path} failed ({reason}); check that the "
            "folder (store.path, NEWSQA_STORE__PATH) is readable, has free space and "
            "is not in use by another program"
        )
    where = settings.chroma_where
    if any(isinstance(e, httpx.TransportError | OSError) for e in chain) or "connect" in reason:
        start = (
            "check store.chroma_host and the API key"
            if settings.chroma_cloud
            else f"start it (chroma run --path DIR --host {settings.chroma_host} --port "
            f"{settings.chroma_port}) or point NEWSQA_STORE__CHROMA_HOST and "
            "NEWSQA_STORE__CHROMA_PORT at a running one"
        )
        return StoreError(f"the {where} is not answering ({reason}); {start}")
    return StoreError(f"the {where} failed ({reason}); see its log, or restart it")
