"""Pre-flight check of the MLflow tracking URI, run once before any training job.

Without it a dead tracking server is only noticed when the first training job calls
MLflow, and with MLflow's default HTTP retries that takes about 4 minutes per job (a
hung server: up to about 18 minutes). :func:`check_tracking_server` answers within
``timeout_s`` and raises a :class:`~convergence.errors.ConfigError` naming the URI.

Supported URIs: ``http(s)://`` tracking servers (``GET <uri>/health``, falling back to
the REST call ``experiments/search`` for servers behind a proxy without ``/health``),
``sqlite:///<path>`` stores (the folder must be creatable and writable) and SQLAlchemy
database URIs (``postgresql+psycopg2://``, ``mysql://``, ``mssql://``: TCP connect to
host and port).
"""

from __future__ import annotations

import base64
import importlib.util
import os
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from convergence.errors import ConfigError

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
_CONFIG_KEY = "tracking.uri"
_DB_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _redact(uri: str) -> str:
    """The URI with any password replaced by ``***`` (messages end up in logs)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _fail(uri: str, problem: str) -> ConfigError:
    source = ""
    if os.environ.get(ENV_TRACKING_URI, "").strip() == uri.strip():
        source = f" (from ${ENV_TRACKING_URI}; unset or fix it)"
    return ConfigError(_CONFIG_KEY, f"MLflow tracking URI {_redact(uri)}{source}: {problem}")


def _auth_headers() -> dict[str, str]:
    """The credentials the MLflow client itself would send, from its environment variables."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}
    return {}


def _tls() -> ssl.SSLContext | None:
    """TLS settings as the MLflow client takes them from its environment variables."""
    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
        return ssl._create_unverified_context()  # the user asked for no checks
    cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    return ssl.create_default_context(cafile=cert) if cert else None


def _get(url: str, deadline: float) -> int:
    """HTTP status of ``GET url`` (raises ``OSError`` when there is no answer in time)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no time left")
    request = urllib.request.Request(url, headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=remaining, context=_tls()) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running, on this host and port?)"
    if isinstance(error, TimeoutError | socket.timeout):
        return "no answer in time (timed out)"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error})"
    return f"{type(error).__name__}: {error}"


def _check_http(uri: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    base = uri.rstrip("/")
    health = f"{base}/health"
    try:
        status = _get(health, deadline)
        if status == 200:
            return
        # /health may be hidden behind a reverse proxy; try the REST API itself.
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        api_status = _get(search, deadline)
    except (OSError, ValueError) as error:  # URLError, timeouts, bad URLs
        raise _fail(
            uri, f"tracking server not reachable within {timeout_s:g} s: {_describe(error)}"
        ) from error
    if api_status == 200:
        return
    if api_status in (401, 403):
        raise _fail(
            uri,
            f"the server refused access (HTTP {api_status}); set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
        )
    raise _fail(
        uri,
        f"no MLflow tracking server there: GET {_redact(health)} gave HTTP {status}, "
        f"GET .../api/2.0/mlflow/experiments/search gave HTTP {api_status}",
    )


def _check_sqlite(uri: str) -> None:
    path_text = uri[len("sqlite://") :]
    if path_text in ("", "/:memory:"):
        return  # in-memory database
    if not path_text.startswith("/"):
        raise _fail(uri, "expected sqlite:///<path> (three slashes, then the path)")
    # sqlite:///relative.db -> "relative.db"; sqlite:////abs/x.db -> "/abs/x.db"
    database = Path(urllib.parse.unquote(path_text[1:].split("?", 1)[0]))
    if database.is_dir():
        raise _fail(uri, f"{database} is a folder, not a database file")
    folder = database.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".preflight-"):
            pass
    except OSError as error:
        raise _fail(uri, f"cannot create or write the folder {folder}: {error}") from error
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise _fail(uri, f"the database file {database} is not readable and writable")


def _check_database(uri: str, scheme: str, timeout_s: float) -> None:
    dialect, _, driver = scheme.partition("+")
    if dialect == "postgresql" and not driver and importlib.util.find_spec("psycopg") is None:
        raise _fail(
            uri,
            "plain postgresql:// needs the psycopg (3) driver, which is not installed; "
            "write postgresql+psycopg2://... instead",
        )
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or _DB_DEFAULT_PORTS[dialect]
    except ValueError as error:
        raise _fail(uri, f"bad port: {error}") from error
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise _fail(
            uri, f"database {host}:{port} not reachable within {timeout_s:g} s: {_describe(error)}"
        ) from error


def check_tracking_server(uri: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`ConfigError` (key ``tracking.uri``) unless ``uri`` can take MLflow runs.

    Takes at most about ``timeout_s`` seconds. The message names the URI (password
    redacted), what failed and, when the URI came from ``$MLFLOW_TRACKING_URI``, says so.
    """
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        _check_http(uri, timeout_s)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme.partition("+")[0] in _DB_DEFAULT_PORTS:
        _check_database(uri, scheme, timeout_s)
    else:
        raise _fail(
            uri,
            f"unsupported scheme {scheme or 'none (a plain path?)'!r}; use http(s)://<server>:<port>, "
            "sqlite:///<path>/mlflow.db or postgresql+psycopg2://...",
        )
