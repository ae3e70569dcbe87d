rule train:
    """Rolling-origin backtest of one model on one data set, every seed in one process
    (one MLflow parent run per seed; per-seed predictions, run.json and checkpoints; one
    figure of every seed's training curves)."""
    input:
        # reference_runs, reference_predictions, reference_curves: for a model that the
        # chosen configuration may make the reference, whose outputs it then reuses.
        unpack(reference_reuse),
        canonical=rules.ingest.output.canonical,
        provenance=rules.ingest.output.provenance,
        experiments=rules.mlflow_init.output.experiments,
        # Not read: a data set the normalize stage rejects stops here, before training.
        measurement=rules.normalize.output.model,
        choice=selection_choice,
    output:
        predictions=seed_outputs("predictions"),
        run=seed_outputs("run"),
        checkpoints=directory(seed_outputs("checkpoints")),
        curves=TRAIN_CURVES,
    log:
        f"{RESULTS}/logs/train/{{dataset}}_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{dataset}}_{{model}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=config["training"]["gpus_per_job"],
        runtime=120,
        mem_mb=4000,
    params:
        spec=dataset_spec,
        measures=config["measures"],
        model_cfg=lambda wildcards: config["models"][wildcards.model],
        reference_cfg=config["models"].get(REFERENCE, {}),
        training_cfg=training_cfg,
        seeds=SEEDS,
        tracking_uri=config["tracking"]["uri"],
        # results/<dataset>/models/<model>/seed<seed>/predictions.csv -> results
        results_dir=lambda wildcards, output: str(
            Path(output.predictions[0]).parents[4]
        ),
        numerics=config["numerics"]["isa"],
        code=fingerprint("train"),
    script:
        "../scripts/train.py"
