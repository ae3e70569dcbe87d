rule normalize:
    """Fit min-max bounds and entropy weights on the fit window; normalize every period."""
    input:
        canonical=rules.ingest.output.canonical,
    output:
        normalized=f"{RESULTS}/{{dataset}}/normalize/normalized.csv",
        model=f"{RESULTS}/{{dataset}}/normalize/measurement_model.json",
    log:
        f"{RESULTS}/logs/normalize/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/normalize/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        spec=dataset_spec,
        measures=config["measures"],
        code=fingerprint("normalize"),
    script:
        "../scripts/normalize.py"
