# Evaluation and scenario figures: one rule per figure family, reading small result tables.


rule figure_forecasts:
    """Forecast vs actual for a few informative entities (or datasets.<name>.figure_entities),
    all origins: reference model and naive."""
    input:
        predictions=lambda wildcards: train_outputs(
            wildcards.dataset, "predictions", [REFERENCE]
        ),
        baselines=rules.baselines.output.predictions,
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/forecasts.png",
            caption="../report/forecasts.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/forecasts.pdf",
    log:
        f"{RESULTS}/logs/figures/forecasts_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/forecasts_{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        figure="forecasts",
        options={"reference": REFERENCE},
        spec=dataset_spec,
        code=fingerprint("figures_evaluation"),
    script:
        "../scripts/figures_evaluation.py"


rule figure_evaluation:
    """Error by horizon, model comparison, ablation chart and DM p-value heatmap."""
    input:
        table=lambda wildcards: (
            rules.evaluate.output.dm
            if wildcards.figure == "dm_heatmap"
            else rules.evaluate.output.summary
        ),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/{{figure}}.png",
            caption="../report/evaluation_figure.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{figure}}_{{dataset}}.tsv"
    wildcard_constraints:
        figure="|".join(name for name in EVALUATION_FIGURES if name != "forecasts"),
    conda:
        "../../envs/convergence.yaml"
    params:
        figure=lambda wildcards: wildcards.figure,
        options=lambda wildcards: (
            {"reference": REFERENCE, "ablations": config["evaluation"]["ablations"]}
            if wildcards.figure == "ablation"
            else {}
        ),
        code=fingerprint("figures_evaluation"),
    script:
        "../scripts/figures_evaluation.py"


rule figure_experiment_scores:
    """One score per data set and model (pooled MASE over all horizons, mean over seeds)."""
    input:
        table=rules.cross_summary.output.table,
    output:
        png=report(
            f"{RESULTS}/evaluation/experiment_scores.png",
            caption="../report/experiment_scores.rst",
            category="Evaluation",
        ),
        pdf=f"{RESULTS}/evaluation/experiment_scores.pdf",
    log:
        f"{RESULTS}/logs/figures/experiment_scores.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/experiment_scores.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        figure="experiment_scores",
        code=fingerprint("figures_evaluation"),
    script:
        "../scripts/figures_evaluation.py"


rule figure_scenarios:
    """Scenario effects by horizon and driver attribution of the reference model."""
    input:
        table=lambda wildcards: (
            rules.scenarios.output.summary
            if wildcards.figure == "scenarios"
            else rules.scenarios.output.attribution
        ),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/{{figure}}.png",
            caption="../report/scenarios.rst",
            category="Scenarios",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{figure}}_{{dataset}}.tsv"
    wildcard_constraints:
        figure="|".join(SCENARIO_FIGURES),
    conda:
        "../../envs/convergence.yaml"
    params:
        figure=lambda wildcards: wildcards.figure,
        code=fingerprint("figures_evaluation"),
    script:
        "../scripts/figures_evaluation.py"
