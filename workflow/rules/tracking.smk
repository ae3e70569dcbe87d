rule mlflow_init:
    """Create the MLflow store and one experiment per data set before training fans out."""
    output:
        experiments=f"{RESULTS}/mlflow/experiments.json",
    params:
        datasets=DATASETS,
        tracking_uri=config["tracking"]["uri"],
        # results/mlflow/experiments.json -> results
        results_dir=lambda wildcards, output: str(Path(output.experiments).parents[1]),
        code=fingerprint("tracking"),
    log:
        f"{RESULTS}/logs/mlflow_init.log",
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/tracking.py"
