rule evaluate:
    """Scores per model, seed and horizon (with the reference's seed ensemble and
    split-conformal intervals); seed means; Diebold-Mariano tests (HLN, Holm)."""
    input:
        predictions=lambda wildcards: train_outputs(wildcards.dataset, "predictions"),
        baselines=rules.baselines.output.predictions,
        scales=rules.baselines.output.scales,
        coupling=rules.measure.output.coupling,
    output:
        scores=f"{RESULTS}/{{dataset}}/evaluation/scores.csv",
        summary=report(
            f"{RESULTS}/{{dataset}}/evaluation/summary.csv",
            caption="../report/evaluation_summary.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
        summary_md=f"{RESULTS}/{{dataset}}/evaluation/summary.md",
        summary_tex=f"{RESULTS}/{{dataset}}/evaluation/summary.tex",
        dm=f"{RESULTS}/{{dataset}}/evaluation/dm_tests.csv",
        dm_md=f"{RESULTS}/{{dataset}}/evaluation/dm_tests.md",
        dm_tex=f"{RESULTS}/{{dataset}}/evaluation/dm_tests.tex",
        leader=f"{RESULTS}/{{dataset}}/evaluation/leader_tests.csv",
        intervals=f"{RESULTS}/{{dataset}}/evaluation/intervals.csv",
        provenance=f"{RESULTS}/{{dataset}}/evaluation/provenance.json",
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        grade_scale=config["measures"]["grades"],
        reference=REFERENCE,
        training=training_cfg,
        code=fingerprint("evaluate"),
    script:
        "../scripts/evaluate.py"


rule cross_summary:
    """Cross-data-set table (models x data sets, best marked) and results/summary.md."""
    input:
        summaries=expand(rules.evaluate.output.summary, dataset=DATASETS),
        dm_tests=expand(rules.evaluate.output.dm, dataset=DATASETS),
        leaders=expand(rules.evaluate.output.leader, dataset=DATASETS),
        measures=expand(rules.measure.output.provenance, dataset=DATASETS),
        convergence=expand(rules.convergence.output.provenance, dataset=DATASETS),
        # Each subsystem index U_k (convergence_tests.subsystems): "Convergence by series".
        convergence_series=convergence_series_provenance(DATASETS),
        ingested=expand(rules.ingest.output.provenance, dataset=DATASETS),
        normalized=expand(rules.normalize.output.model, dataset=DATASETS),
        selection=(
            expand(rules.select.output.choice, dataset=DATASETS)
            if config["selection"]["enabled"]
            else []
        ),
        evaluated=expand(rules.evaluate.output.provenance, dataset=DATASETS),
    output:
        table=report(
            f"{RESULTS}/evaluation/cross_dataset.csv",
            caption="../report/cross_dataset.rst",
            category="Evaluation",
        ),
        table_md=f"{RESULTS}/evaluation/cross_dataset.md",
        table_tex=f"{RESULTS}/evaluation/cross_dataset.tex",
        summary_md=f"{RESULTS}/summary.md",
    log:
        f"{RESULTS}/logs/evaluate/cross_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/cross_summary.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        reference=REFERENCE,
        ablations=config["evaluation"]["ablations"],
        baselines=config["evaluation"]["baselines"],
        datasets=DATASETS,
        code=fingerprint("evaluate"),
    script:
        "../scripts/cross_summary.py"
