rule select:
    """Per-data-set configuration of the reference model, chosen on the validation
    windows of the first fold and, on short series, earlier folds (a fixed grid; one
    MLflow child run per trial, selection fold and seed)."""
    input:
        canonical=rules.ingest.output.canonical,
        provenance=rules.ingest.output.provenance,
        experiments=rules.mlflow_init.output.experiments,
        # Not read: a data set the normalize stage rejects stops here, before training.
        measurement=rules.normalize.output.model,
    output:
        choice=f"{RESULTS}/{{dataset}}/selection/choice.json",
        trials=f"{RESULTS}/{{dataset}}/selection/trials.csv",
        ranking=f"{RESULTS}/{{dataset}}/selection/ranking.csv",
        ranking_md=f"{RESULTS}/{{dataset}}/selection/ranking.md",
        ranking_tex=f"{RESULTS}/{{dataset}}/selection/ranking.tex",
    log:
        f"{RESULTS}/logs/select/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=config["training"]["gpus_per_job"],
        runtime=60,
        mem_mb=4000,
    params:
        spec=dataset_spec,
        measures=config["measures"],
        reference=REFERENCE,
        reference_cfg=config["models"].get(REFERENCE, {}),
        training_cfg=training_cfg,
        grid=config["selection"]["grid"],
        seeds=config["selection"]["seeds"],
        min_validation_windows=config["selection"]["min_validation_windows"],
        max_folds=config["selection"]["max_folds"],
        margin=config["selection"]["margin"],
        max_entities=config["selection"]["max_entities"],
        warm_start=config["selection"]["warm_start"],
        tracking_uri=config["tracking"]["uri"],
        # results/<dataset>/selection/choice.json -> results
        results_dir=lambda wildcards, output: str(Path(output.choice).parents[2]),
        numerics=config["numerics"]["isa"],
        code=fingerprint("select"),
    script:
        "../scripts/select.py"
