"""Run pipeline job scripts in forks of one process that has already imported the heavy
libraries, so that a job does not spend seconds importing them.

Every training job of the default run imports torch, Lightning and MLflow (about 6 s on
2 cores, ``benchmarks/results/job_startup.md``) to train for 5-90 s; the pipeline runs
dozens of them. The Snakefile's ``onstart`` hook starts one server per run
(:func:`start`); it imports :data:`PRELOAD` once and then waits on a Unix socket. A job
script calls :func:`delegate` before its own imports: with a server at hand, the job's
process (the *client*) hands the server its script, arguments, working directory,
environment and standard streams, and the server forks a *child* that runs the script
exactly as ``python script`` would, with the client's streams, folder and environment.
The client waits, forwards signals, and exits with the child's status, so Snakemake sees
an ordinary job. Without a server (``--no-hooks``, a cluster node or allocation, another
interpreter)
:func:`delegate` returns at once and the script runs in its own process: same code, same
numbers, only the imports are paid again. A child that crashes (a signal ends it with
no status while nobody signalled the job) is logged in the server's log, and the job
runs again in its own process.

Each child is a fresh fork of a server that has only imported modules: no state passes
from one job to the next. What a job measures of itself (Snakemake's ``benchmark:`` CPU
time and memory) covers the client only; wall time is unaffected.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import gc
import json
import os
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn

#: Environment variable that names the server's socket; jobs inherit it from Snakemake.
SOCKET_ENV = "CONVERGENCE_FORKSERVER"
#: Set in a child, so that its script runs there instead of delegating again.
CHILD_ENV = "CONVERGENCE_FORKSERVER_CHILD"

#: What the server imports before it forks: every heavy library some job uses (torch,
#: Lightning and MLflow's SQL store in training, selection, baselines and scenarios;
#: statsforecast and neuralforecast in baselines; scipy.stats and matplotlib in the
#: evaluation and figure jobs) and the stage modules themselves.
PRELOAD: tuple[str, ...] = (
    "torch",
    "pytorch_lightning",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "scipy.stats",
    "matplotlib.pyplot",
    "statsforecast",
    "neuralforecast",
    "convergence.training.backtest",
    "convergence.stages.ingest",
    "convergence.stages.normalize",
    "convergence.stages.measure",
    "convergence.stages.convergence",
    "convergence.stages.tracking",
    "convergence.stages.select",
    "convergence.stages.train",
    "convergence.stages.baselines",
    "convergence.stages.evaluate",
    "convergence.stages.scenarios",
    "convergence.stages.figures",
    "convergence.stages.figures_evaluation",
)

_LENGTH = struct.Struct("!I")
_FOLDER_PREFIX = "convergence-forkserver-"
# Set in a child once its job is over, so that the client closing its end (because the
# status arrived) is not taken for the client being killed.
_job_over = threading.Event()
_STREAMS = 3  # stdin, stdout, stderr


def _send_message(conn: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    payload = json.dumps(message).encode()
    data = _LENGTH.pack(len(payload)) + payload
    if fds:
        socket.send_fds(conn, [data], list(fds))
    else:
        conn.sendall(data)


def _receive_exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks, received = [], 0
    while received < size:
        chunk = conn.recv(size - received)
        if not chunk:
            return None
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _receive_message(conn: socket.socket, max_fds: int = 0) -> tuple[dict | None, list[int]]:
    """One length-prefixed JSON message (None when the peer closed) and any passed fds."""
    if max_fds:
        data, fds, _flags, _addr = socket.recv_fds(conn, _LENGTH.size, max_fds)
    else:
        data, fds = conn.recv(_LENGTH.size), []
    if not data:
        return None, fds
    if len(data) < _LENGTH.size:
        rest = _receive_exactly(conn, _LENGTH.size - len(data))
        if rest is None:
            return None, fds
        data += rest
    (size,) = _LENGTH.unpack(data)
    payload = _receive_exactly(conn, size)
    if payload is None:
        return None, fds
    return json.loads(payload), fds


def _interpreter() -> dict:
    """What must match between client and server for a fork to run the client's job: the
    same Python environment, and the same SLURM allocation (a job that a cluster executor
    placed in its own allocation must not run in the server's)."""
    return {
        "executable": os.path.realpath(sys.executable),
        "prefix": sys.prefix,
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
    }


# --------------------------------------------------------------------------- client


def delegate(argv: Sequence[str] | None = None) -> None:
    """Run the calling script in a fork of the server and exit with its status.

    Returns (and the caller runs the script itself) when there is no server, when the
    server runs another interpreter, or in a server's child. Call it before importing
    anything heavy.
    """
    path = os.environ.get(SOCKET_ENV)
    if not path or os.environ.get(CHILD_ENV):
        return
    argv = list(sys.argv if argv is None else argv)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "interpreter": _interpreter(),
        }
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        _send_message(conn, request, fds=range(_STREAMS))
        reply, _ = _receive_message(conn)
    except OSError as error:
        conn.close()
        print(f"forkserver at {path} not reachable ({error}); running here", file=sys.stderr)
        return
    if reply is None or "pid" not in reply:
        conn.close()
        reason = (reply or {}).get("refused", "no answer")
        print(f"forkserver at {path} refused the job ({reason}); running here", file=sys.stderr)
        return
    _wait_for_child(conn, int(reply["pid"]))  # returns only if the child crashed


def _wait_for_child(conn: socket.socket, pid: int) -> None:
    """Forward termination signals to the child; exit with its status.

    Returns only when the child crashed (ended with no status while nobody signalled the
    job): the caller then runs the job in this process, so that a crash of a forked child
    costs the job's time again, not the run.
    """
    forwarded: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {
        signum: signal.signal(signum, forward)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        reply, _ = _receive_message(conn)
    except OSError:
        reply = None
    conn.close()
    if reply is not None and "status" in reply:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(reply["status"]))
    if forwarded:
        os._exit(128 + forwarded[0])
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    print(
        f"forkserver child {pid} ended without an exit status (crashed); running the job here",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- server


def serve(
    socket_path: str,
    preload: Iterable[str] = PRELOAD,
    watch_pid: int | None = None,
    poll_seconds: float = 1.0,
) -> None:
    """Listen on ``socket_path``, import ``preload``, then fork one child per request.

    Stops when the socket file is removed or when ``watch_pid`` (the Snakemake process)
    is gone, so that a killed run leaves no server behind.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(128)  # jobs that connect while the imports run wait in the backlog
    started = time.perf_counter()
    for module in preload:
        begin = time.perf_counter()
        try:
            __import__(module)
        except ImportError as error:  # an optional library: the job imports (or fails) itself
            print(f"forkserver: not preloaded {module}: {error}", file=sys.stderr)
            continue
        print(f"forkserver: {module} {time.perf_counter() - begin:.2f} s", file=sys.stderr)
    others = [
        thread.name for thread in threading.enumerate() if thread is not threading.main_thread()
    ]
    if others:  # a fork copies only this thread; locks held by others would stay held
        print(f"forkserver: threads after the imports {others}", file=sys.stderr)
    # Children share the imported modules' pages until they write to them.
    gc.collect()
    gc.freeze()
    print(
        f"forkserver: ready in {time.perf_counter() - started:.2f} s on {socket_path}",
        file=sys.stderr,
        flush=True,
    )
    listener.settimeout(poll_seconds)
    served = 0
    jobs: dict[int, str] = {}  # running children: pid -> script arguments
    while os.path.exists(socket_path) and (watch_pid is None or _alive(watch_pid)):
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            _reap(jobs)
            continue
        conn.settimeout(None)
        try:
            request, fds = _receive_message(conn, max_fds=_STREAMS)
        except OSError:
            conn.close()
            continue
        if request is None or len(fds) != _STREAMS:
            _close(conn, fds)
            continue
        if request.get("interpreter") != _interpreter():
            _send_message(conn, {"refused": f"server runs {_interpreter()}"})
            _close(conn, fds)
            continue
        pid = os.fork()
        if pid == 0:
            listener.close()
            _run_child(conn, request, fds)
        jobs[pid] = " ".join(request["argv"])
        served += 1
        _close(conn, fds)
        _reap(jobs)
    _reap(jobs)
    _remove_socket(socket_path)
    print(f"forkserver: stopped after {served} jobs", file=sys.stderr, flush=True)


def _reap(jobs: dict[int, str]) -> None:
    """Collect finished children; log those that a signal ended (their client can only
    say that no status came)."""
    for pid in list(jobs):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 0
        if done == 0:
            continue
        script = jobs.pop(pid)
        if os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            print(
                f"forkserver: child {pid} ({script}) ended by {name}", file=sys.stderr, flush=True
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _close(conn: socket.socket, fds: Iterable[int]) -> None:
    for fd in fds:
        os.close(fd)
    conn.close()


def _run_child(conn: socket.socket, request: dict, fds: Sequence[int]) -> NoReturn:
    """In the fork: become the client's process, run its script, report the status."""
    status = 1
    try:
        faulthandler.enable()  # a crash prints the Python stack to the job's stderr
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD_ENV] = "1"
        sys.argv = list(request["argv"])
        _send_message(conn, {"pid": os.getpid()})
        # The client's end closing means it was killed: stop too.
        threading.Thread(target=_exit_when_closed, args=(conn,), daemon=True).start()
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            status = 0
        except SystemExit as exit_request:
            status = _exit_status(exit_request.code)
        except BaseException as error:  # what the interpreter does with an uncaught one
            trimmed = _from_script(error.__traceback__, sys.argv[0])
            sys.excepthook(type(error), error.with_traceback(trimmed), trimmed)
            status = 1
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        _job_over.set()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            _send_message(conn, {"status": status})
        finally:
            os._exit(status)


def _from_script(tb: TracebackType | None, script: str) -> TracebackType | None:
    """The traceback from the script's frame on, as ``python script`` would print it."""
    frame = tb
    while frame is not None and frame.tb_frame.f_code.co_filename != script:
        frame = frame.tb_next
    return frame or tb


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_when_closed(conn: socket.socket) -> None:
    try:
        closed = conn.recv(1) == b""
    except OSError:
        closed = True
    if closed and not _job_over.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


# --------------------------------------------------------------------------- lifecycle


def start(log_path: str | Path, preload: Iterable[str] = PRELOAD) -> str:
    """Start a server for this process's jobs; return its socket path.

    Sets :data:`SOCKET_ENV` in this process's environment, which the jobs inherit.
    """
    folder = tempfile.mkdtemp(prefix=_FOLDER_PREFIX)
    socket_path = os.path.join(folder, "socket")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "convergence.forkserver",
                socket_path,
                "--watch-pid",
                str(os.getpid()),
                "--preload",
                ",".join(preload),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C reaches the jobs, which stop their children
        )
    # The client retries until the socket exists: the server binds it first thing.
    deadline = time.monotonic() + 30
    while not os.path.exists(socket_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.environ[SOCKET_ENV] = socket_path
    return socket_path


def stop(socket_path: str | None = None) -> None:
    """Stop the server: removing its socket ends its loop; running children finish."""
    socket_path = socket_path or os.environ.pop(SOCKET_ENV, None)
    if socket_path:
        _remove_socket(socket_path)


def _remove_socket(socket_path: str) -> None:
    """Remove the socket and the private folder :func:`start` made for it."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(socket_path)
    folder = os.path.dirname(socket_path)
    if os.path.basename(folder).startswith(_FOLDER_PREFIX):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket", help="Unix socket path to listen on")
    parser.add_argument("--watch-pid", type=int, default=None, help="stop when it exits")
    parser.add_argument("--preload", default=",".join(PRELOAD), help="comma-separated modules")
    args = parser.parse_args(argv)
    serve(args.socket, [m for m in args.preload.split(",") if m], watch_pid=args.watch_pid)


if __name__ == "__main__":
    main()
