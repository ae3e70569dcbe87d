"""Stage ``ingest``: read one data set, check its sha256, write the canonical long table."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convergence.config import config_hash
from convergence.data.ingest import ingest_dataset, write_ingest_outputs
from convergence.provenance import base_record, project_root

log = logging.getLogger(__name__)


def run(
    name: str, spec: Mapping[str, Any], canonical_path: str | Path, provenance_path: str | Path
) -> None:
    """Ingest one data set: checksum, reader, canonical table, provenance."""
    log.info("ingesting data set %s with reader %s", name, spec["reader"])
    canonical, provenance = ingest_dataset(name, spec, root=project_root())
    provenance = base_record(**provenance, config_sha256=config_hash(spec))
    write_ingest_outputs(canonical, provenance, canonical_path, provenance_path)
    log.info(
        "%s: %d rows in, %d rows out, %d entities, periods %s-%s",
        name,
        provenance["rows_in"],
        provenance["rows_out"],
        provenance["n_entities"],
        provenance["periods"]["first"],
        provenance["periods"]["last"],
    )
