rule mlflow_init:
    """Create the MLflow store and one experiment per data set before training fans out."""
    output:
        experiments=f"{RESULTS}/mlflow/experiments.json",
    log:
        f"{RESULTS}/logs/mlflow_init.log",
    conda:
        "../../envs/convergence.yaml"
    resources:
        runtime=5,
        mem_mb=1000,
    params:
        datasets=DATASETS,
        # The RESOLVED URI ($MLFLOW_TRACKING_URI first): changing it reruns this rule and
        # so the pre-flight check, also on an existing results folder.
        tracking_uri=tracking_uri_for(config["tracking"]["uri"], RESULTS),
        # results/mlflow/experiments.json -> results
        results_dir=lambda wildcards, output: str(Path(output.experiments).parents[1]),
        code=fingerprint("tracking"),
    script:
        "../scripts/tracking.py"
