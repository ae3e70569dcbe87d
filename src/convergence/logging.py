"""Logging for pipeline jobs: one file per job plus the terminal, with timestamps.

Uncaught exceptions are logged too, so a failed Snakemake job leaves its reason in
its ``log:`` file. Every job script calls :func:`configure_logging` first, so it also
makes the job's exit cheap (:func:`skip_collection_at_exit`).
"""

from __future__ import annotations

import atexit
import gc
import logging
import sys
from pathlib import Path
from types import TracebackType

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def skip_collection_at_exit() -> None:
    """Move every object to the collector's permanent generation when the process exits.

    A job that imported torch, Lightning and MLflow spends about 2 s after its last line
    in the garbage collector's passes over those modules' objects while the interpreter
    tears them down (0.2 s with this), for every one of the pipeline's ~100 jobs. Nothing
    is skipped but the cycle search: files, logs and MLflow's database are closed by then.
    """
    atexit.unregister(gc.freeze)  # once per process, however often it is called
    atexit.register(gc.freeze)


def configure_logging(log_file: str | Path | None, level: int = logging.INFO) -> None:
    """Send log records to ``log_file`` (created with its folder) and to stderr, and
    :func:`skip_collection_at_exit` (once per process)."""
    skip_collection_at_exit()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=_FORMAT, handlers=handlers, force=True)
    # Lightning announces the devices (and an advert) at every Trainer it builds: dozens of
    # lines per training job that say the same thing. Warnings still come through.
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)

    def log_uncaught(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        from convergence.errors import InputError

        if isinstance(value, InputError):
            # A user error: one clear line, no traceback.
            logging.getLogger("convergence").error("%s", value)
        else:
            logging.getLogger("convergence").error("uncaught exception", exc_info=(kind, value, tb))

    sys.excepthook = log_uncaught
