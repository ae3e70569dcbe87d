"""Logging for pipeline jobs: one file per job plus the terminal, with timestamps.

Uncaught exceptions are logged too, so a failed Snakemake job leaves its reason in
its ``log:`` file.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: str | Path | None, level: int = logging.INFO) -> None:
    """Send log records to ``log_file`` (created with its folder) and to stderr."""
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
