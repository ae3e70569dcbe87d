"""Pre-flight check of the MLflow tracking URI: fast, clear failures before any training."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from convergence.errors import ConfigError
from convergence.stages.tracking import run as run_mlflow_init
from convergence.tracking.preflight import check_tracking_server


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def no_env_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_closed_port_fails_fast_naming_the_uri() -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match="connection refused") as caught:
        check_tracking_server(uri)
    assert time.monotonic() - start < 10
    assert uri in str(caught.value)
    assert caught.value.key == "tracking.uri"
    assert "MLFLOW_TRACKING_URI" not in str(caught.value)


def test_uri_from_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"http://127.0.0.1:{closed_port()}/"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(ConfigError, match=r"from \$MLFLOW_TRACKING_URI"):
        check_tracking_server(uri)


def test_hung_server_fails_within_budget() -> None:
    """A socket that accepts connections but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match="within 1 s") as caught:
            check_tracking_server(uri, timeout_s=1.0)
        assert time.monotonic() - start < 3
        assert uri in str(caught.value)


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        self.send_response(self.routes.get(path, 404))
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[tuple[str, dict[str, int]]]:
    routes: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def test_http_health_and_rest_fallback(fake_server: tuple[str, dict[str, int]]) -> None:
    url, routes = fake_server
    routes["/health"] = 200
    check_tracking_server(url)
    del routes["/health"]
    routes["/api/2.0/mlflow/experiments/search"] = 200
    check_tracking_server(url + "/")
    routes["/api/2.0/mlflow/experiments/search"] = 401
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_USERNAME"):
        check_tracking_server(url)
    del routes["/api/2.0/mlflow/experiments/search"]
    with pytest.raises(ConfigError, match="no MLflow tracking server there"):
        check_tracking_server(url)


@pytest.mark.parametrize(
    "uri", ["ftp://example.org/mlflow", "/plain/path/mlruns", "file:///tmp/mlruns", "databricks"]
)
def test_unsupported_scheme_fails(uri: str) -> None:
    with pytest.raises(ConfigError, match="unsupported scheme") as caught:
        check_tracking_server(uri)
    assert uri in str(caught.value)


def test_password_is_redacted() -> None:
    uri = f"postgresql+psycopg2://me:secret@127.0.0.1:{closed_port()}/mlflow"
    with pytest.raises(ConfigError, match="not reachable") as caught:
        check_tracking_server(uri, timeout_s=2)
    assert "secret" not in str(caught.value)
    assert "me:***@127.0.0.1" in str(caught.value)


def test_sqlite_store_folder_is_created(tmp_path: Path) -> None:
    database = tmp_path / "new" / "mlflow" / "mlflow.db"
    check_tracking_server(f"sqlite:///{database}")
    assert database.parent.is_dir()
    assert list(database.parent.iterdir()) == []  # the write probe cleans up
    check_tracking_server("sqlite://")  # in memory


def test_sqlite_unwritable_folder_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    with pytest.raises(ConfigError, match="cannot create or write") as caught:
        check_tracking_server(uri)
    assert uri in str(caught.value)
    with pytest.raises(ConfigError, match="is a folder"):
        check_tracking_server(f"sqlite:///{tmp_path}")


def test_mlflow_init_with_dead_server_writes_nothing(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    experiments_path = tmp_path / "results" / "mlflow" / "experiments.json"
    start = time.monotonic()
    with pytest.raises(ConfigError, match="tracking.uri") as caught:
        run_mlflow_init(
            datasets=["synthetic"],
            tracking_uri=uri,
            results_dir=tmp_path / "results",
            experiments_path=experiments_path,
        )
    assert time.monotonic() - start < 10
    assert uri in str(caught.value)
    assert not experiments_path.exists()
