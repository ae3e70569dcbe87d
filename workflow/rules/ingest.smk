rule ingest:
    """Read a data set, check its sha256, write the canonical long table and provenance."""
    input:
        raw=dataset_files,
    output:
        canonical=f"{RESULTS}/{{dataset}}/ingest/canonical.csv",
        provenance=f"{RESULTS}/{{dataset}}/ingest/provenance.json",
    log:
        f"{RESULTS}/logs/ingest/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        name=lambda wildcards: wildcards.dataset,
        spec=dataset_spec,
        code=fingerprint("ingest"),
    script:
        "../scripts/ingest.py"
