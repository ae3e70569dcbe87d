"""The forkserver runs a job script as the job's own process would: same streams, folder,
environment, arguments and exit status; and it leaves nothing running behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from convergence import forkserver

# A job script as the pipeline writes them: delegate() first, then the work.
SCRIPT = """
from convergence.forkserver import delegate

delegate()

import json, os, sys, time

mode = sys.argv[1]
if mode == "report":
    print(json.dumps({
        "pid": os.getpid(),
        "parent": os.getppid(),
        "cwd": os.getcwd(),
        "argv": sys.argv[1:],
        "marker": os.environ.get("JOB_MARKER"),
        "child": os.environ.get("CONVERGENCE_FORKSERVER_CHILD"),
    }))
    print("to stderr", file=sys.stderr)
    sys.exit(int(sys.argv[2]))
if mode == "raise":
    raise ValueError("bad value in the job")
if mode == "crash":
    if os.environ.get("CONVERGENCE_FORKSERVER_CHILD"):
        import signal
        os.kill(os.getpid(), signal.SIGSEGV)
    print(json.dumps({"pid": os.getpid(), "child": None}))
    sys.exit(0)
if mode == "sleep":
    open(sys.argv[2], "w").write(str(os.getpid()))
    time.sleep(60)
"""


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) has stopped running too.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"


def start_server(socket_path: Path, *extra: str) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "convergence.forkserver", str(socket_path), "--preload", "json"]
        + list(extra),
        stderr=subprocess.PIPE,
        text=True,
    )
    # Bound first, imports after: ready once it says so.
    line = server.stderr.readline()
    while "ready" not in line:
        assert line, "forkserver exited before it was ready"
        line = server.stderr.readline()
    return server


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    socket_path = tmp_path / "fs.sock"
    process = start_server(socket_path)
    yield socket_path, process
    forkserver.stop(str(socket_path))
    process.wait(timeout=10)


@pytest.fixture()
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


def run_job(
    script: Path, socket_path: Path | None, *args: str, cwd: Path, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVERGENCE_FORKSERVER")}
    env["JOB_MARKER"] = "from-the-client"
    env.update(extra_env)
    if socket_path is not None:
        env[forkserver.SOCKET_ENV] = str(socket_path)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_job_runs_in_a_fork_with_the_clients_streams_folder_env_and_status(
    server: tuple[Path, subprocess.Popen], script: Path, tmp_path: Path
) -> None:
    socket_path, process = server
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_job(script, socket_path, "report", "3", cwd=workdir)
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["parent"] == process.pid  # forked by the server, not run by the client
    assert report["cwd"] == str(workdir)
    assert report["argv"] == ["report", "3"]
    assert report["marker"] == "from-the-client"
    assert report["child"] == "1"
    assert result.stderr.strip() == "to stderr"


def test_uncaught_exception_exits_1_with_its_traceback(
    server: tuple[Path, subprocess.Popen], script: Path, tmp_path: Path
) -> None:
    socket_path, _ = server
    result = run_job(script, socket_path, "raise", cwd=tmp_path)
    assert result.returncode == 1
    assert "ValueError: bad value in the job" in result.stderr
    # The traceback starts at the script, as the job's own interpreter would print it.
    assert "runpy" not in result.stderr and "forkserver.py" not in result.stderr


def test_a_crashed_child_is_logged_and_its_job_runs_in_the_client(
    server: tuple[Path, subprocess.Popen], script: Path, tmp_path: Path
) -> None:
    socket_path, process = server
    result = run_job(script, socket_path, "crash", cwd=tmp_path)
    assert result.returncode == 0
    assert "ended without an exit status (crashed); running the job here" in result.stderr
    assert "Fatal Python error: Segmentation fault" in result.stderr  # the child's stack
    # The next job is served as usual, and the server logs the crash it reaped.
    assert json.loads(run_job(script, socket_path, "report", "0", cwd=tmp_path).stdout)["child"]
    forkserver.stop(str(socket_path))
    process.wait(timeout=10)
    log = process.stderr.read()
    assert "job.py crash) ended by SIGSEGV" in log
    # A job that ends normally is not reported as ended by a signal (its watchdog saw the
    # client close after the status, not before).
    assert log.count("ended by") == 1


def test_without_a_server_the_job_runs_in_its_own_process(script: Path, tmp_path: Path) -> None:
    result = run_job(script, None, "report", "0", cwd=tmp_path)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["child"] is None
    # A socket path that nothing listens on: said on stderr, then the job runs here.
    result = run_job(script, tmp_path / "absent.sock", "report", "4", cwd=tmp_path)
    assert result.returncode == 4
    assert json.loads(result.stdout)["child"] is None
    assert "not reachable" in result.stderr


def test_server_refuses_a_client_of_another_interpreter(
    server: tuple[Path, subprocess.Popen],
) -> None:
    socket_path, _ = server
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(socket_path))
        request = {
            "argv": ["job.py"],
            "cwd": "/",
            "env": {},
            "interpreter": {"executable": "/elsewhere/python", "prefix": "/elsewhere"},
        }
        forkserver._send_message(conn, request, fds=range(3))
        reply, _ = forkserver._receive_message(conn)
    assert reply is not None and "refused" in reply


def test_a_job_in_its_own_slurm_allocation_runs_there(
    server: tuple[Path, subprocess.Popen], script: Path, tmp_path: Path
) -> None:
    socket_path, _ = server
    result = run_job(script, socket_path, "report", "0", cwd=tmp_path, SLURM_JOB_ID="4242")
    assert result.returncode == 0
    assert json.loads(result.stdout)["child"] is None
    assert "refused" in result.stderr


def test_killing_the_client_stops_the_child(
    server: tuple[Path, subprocess.Popen], script: Path, tmp_path: Path
) -> None:
    socket_path, _ = server
    pid_file = tmp_path / "child.pid"
    env = dict(os.environ, **{forkserver.SOCKET_ENV: str(socket_path)})
    env.pop(forkserver.CHILD_ENV, None)
    for how in (signal.SIGTERM, signal.SIGKILL):  # forwarded; or noticed by the child
        pid_file.unlink(missing_ok=True)
        client = subprocess.Popen(
            [sys.executable, str(script), "sleep", str(pid_file)], env=env, cwd=tmp_path
        )
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
        child = int(pid_file.read_text())
        assert child != client.pid
        client.send_signal(how)
        client.wait(timeout=10)
        assert client.returncode != 0
        assert wait_until(lambda child=child: not pid_running(child)), how


def test_server_stops_when_its_socket_goes_or_its_run_ends(tmp_path: Path) -> None:
    socket_path = tmp_path / "a.sock"
    process = start_server(socket_path)
    forkserver.stop(str(socket_path))
    assert process.wait(timeout=10) == 0
    # The Snakemake process it watches is gone (killed): the server goes too.
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    process = start_server(tmp_path / "b.sock", "--watch-pid", str(run.pid))
    run.wait()
    assert process.wait(timeout=10) == 0
    assert not (tmp_path / "b.sock").exists()


def test_start_sets_the_socket_for_the_jobs_and_stop_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: Path
) -> None:
    monkeypatch.delenv(forkserver.SOCKET_ENV, raising=False)
    socket_path = forkserver.start(tmp_path / "logs" / "forkserver.log", preload=["json"])
    try:
        assert os.environ[forkserver.SOCKET_ENV] == socket_path
        result = run_job(script, Path(socket_path), "report", "0", cwd=tmp_path)
        assert json.loads(result.stdout)["child"] == "1"
    finally:
        forkserver.stop()
    assert forkserver.SOCKET_ENV not in os.environ
    assert not Path(socket_path).exists()
    log = tmp_path / "logs" / "forkserver.log"
    assert wait_until(lambda: "stopped after 1 jobs" in log.read_text())
