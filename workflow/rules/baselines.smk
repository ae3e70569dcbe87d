rule baselines:
    """Naive, drift, ETS, ARIMA, Theta and pooled ridge in the same folds and on the same
    fold-defined target as the neural models; writes the MASE scales too."""
    input:
        canonical=rules.ingest.output.canonical,
        provenance=rules.ingest.output.provenance,
        experiments=rules.mlflow_init.output.experiments,
        # Not read: a data set the normalize stage rejects stops here, before training.
        measurement=rules.normalize.output.model,
    output:
        predictions=f"{RESULTS}/{{dataset}}/baselines/predictions.csv",
        scales=f"{RESULTS}/{{dataset}}/baselines/scales.csv",
        run=f"{RESULTS}/{{dataset}}/baselines/run.json",
    log:
        f"{RESULTS}/logs/baselines/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/baselines/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        spec=dataset_spec,
        measures=config["measures"],
        training_cfg=training_cfg,
        baselines=config["evaluation"]["baselines"],
        frequency=lambda wildcards: config["datasets"][wildcards.dataset]["frequency"],
        tracking_uri=config["tracking"]["uri"],
        # results/<dataset>/baselines/predictions.csv -> results
        results_dir=lambda wildcards, output: str(Path(output.predictions).parents[2]),
        numerics=config["numerics"]["isa"],
        code=fingerprint("baselines"),
    script:
        "../scripts/baselines.py"
