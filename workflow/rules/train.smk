rule train:
    """Rolling-origin backtest of one model with one seed on one data set (MLflow-tracked)."""
    input:
        canonical=rules.ingest.output.canonical,
        provenance=rules.ingest.output.provenance,
        experiments=rules.mlflow_init.output.experiments,
    output:
        predictions=f"{RESULTS}/{{dataset}}/models/{{model}}/seed{{seed}}/predictions.csv",
        run=f"{RESULTS}/{{dataset}}/models/{{model}}/seed{{seed}}/run.json",
        checkpoints=directory(
            f"{RESULTS}/{{dataset}}/models/{{model}}/seed{{seed}}/{{model}}-seed{{seed}}"
        ),
    params:
        spec=dataset_spec,
        measures=config["measures"],
        model_cfg=lambda wildcards: config["models"][wildcards.model],
        training_cfg=training_cfg,
        tracking_uri=config["tracking"]["uri"],
        # results/<dataset>/models/<model>/seed<seed>/predictions.csv -> results
        results_dir=lambda wildcards, output: str(Path(output.predictions).parents[4]),
        code=fingerprint("train"),
    log:
        f"{RESULTS}/logs/train/{{dataset}}_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}_{{model}}_seed{{seed}}.tsv"
    threads: config["training"]["threads"]
    resources:
        gpu=config["training"]["gpus_per_job"],
        runtime=120,
        mem_mb=4000,
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/train.py"
