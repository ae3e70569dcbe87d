"""A throw-away one-node SLURM cluster on 127.0.0.1 (Debian slurm-wlm + munge), for tests.

Everything lives in one folder; the only file outside it is the symlink
``/etc/slurm/slurm.conf``, which the Snakemake SLURM job step needs (it drops
``SLURM_CONF`` before calling the nested ``srun``). Daemons are started and stopped by PID.
Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ETC_SLURM_CONF = Path("/etc/slurm/slurm.conf")

SLURM_CONF_TEMPLATE = """\
ClusterName=pipeline-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def missing_requirements() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "needs root (munged/slurmd run as root, /etc/slurm/slurm.conf symlink)"
    for binary in ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue"):
        if not shutil.which(binary) and not Path(f"/usr/sbin/{binary}").exists():
            return f"{binary} not found; install with: .ci/install-slurm (as root)"
    if ETC_SLURM_CONF.exists() and not ETC_SLURM_CONF.is_symlink():
        return f"{ETC_SLURM_CONF} exists and is not a test symlink; refusing to replace it"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _read_pid(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return int(path.read_text().split()[0])
        time.sleep(0.1)
    raise RuntimeError(f"no pid file {path} after {timeout} s")


@dataclass
class SlurmCluster:
    """Paths and PIDs of a running cluster; :meth:`stop` undoes :func:`start_cluster`."""

    root: Path
    partition: str
    pids: dict[str, int] = field(default_factory=dict)
    linked: bool = False

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.root / "log" / name
            if path.is_file():
                parts.append(f"--- {name}\n{path.read_text()[-chars:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop slurmd, slurmctld, munged (by PID) and remove the slurm.conf symlink."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        ours = self.root / "etc" / "slurm.conf"
        if (
            self.linked
            and ETC_SLURM_CONF.is_symlink()
            and Path(os.readlink(ETC_SLURM_CONF)) == ours
        ):
            ETC_SLURM_CONF.unlink()
        self.linked = False


def write_slurm_conf(root: Path, partition: str = "debug", memory_mb: int = 4000) -> Path:
    """slurm.conf under ``root/etc`` with ``CPUs`` from nproc (more would DRAIN the node)."""
    for sub in ("etc", "state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0))
    path = root / "etc" / "slurm.conf"
    path.write_text(
        SLURM_CONF_TEMPLATE.format(root=root, cpus=cpus, memory_mb=memory_mb, partition=partition)
    )
    return path


def wait_idle(timeout: float = 60.0) -> None:
    """Poll ``sinfo`` until the node is idle."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            [_binary("sinfo"), "-h", "-o", "%t"], capture_output=True, text=True, timeout=10
        )
        state = result.stdout.strip()
        if result.returncode == 0 and state.startswith("idle"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"SLURM node not idle after {timeout} s (sinfo state: {state!r})")


def start_cluster(root: Path, partition: str = "debug") -> SlurmCluster:
    """Write slurm.conf, link it to /etc/slurm, start munged/slurmctld/slurmd, wait for idle."""
    reason = missing_requirements()
    if reason:
        raise RuntimeError(reason)
    root = Path(root)
    conf = write_slurm_conf(root, partition)
    cluster = SlurmCluster(root=root, partition=partition)
    try:
        ETC_SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if ETC_SLURM_CONF.is_symlink():
            ETC_SLURM_CONF.unlink()  # a stale link of an earlier test session
        ETC_SLURM_CONF.symlink_to(conf)
        cluster.linked = True
        munge_run = Path("/run/munge")
        munge_pid = munge_run / "munged.pid"
        if munge_pid.is_file() and Path(f"/proc/{munge_pid.read_text().strip()}").exists():
            pass  # a munged already runs (not ours: leave it alone)
        else:
            munge_run.mkdir(parents=True, exist_ok=True)
            shutil.chown(munge_run, "munge", "munge")
            munge_pid.unlink(missing_ok=True)
            subprocess.run(["runuser", "-u", "munge", "--", _binary("munged")], check=True)
            cluster.pids["munged"] = _read_pid(munge_pid)
        subprocess.run([_binary("slurmctld")], check=True, timeout=30)
        cluster.pids["slurmctld"] = _read_pid(root / "slurmctld.pid")
        subprocess.run([_binary("slurmd"), "-N", "localhost"], check=True, timeout=30)
        cluster.pids["slurmd"] = _read_pid(root / "slurmd.pid")
        wait_idle()
    except BaseException as error:
        tail = cluster.log_tail()
        cluster.stop()
        raise RuntimeError(f"SLURM cluster did not start: {error}\n{tail}") from error
    return cluster
