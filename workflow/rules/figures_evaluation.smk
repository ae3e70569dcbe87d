# Evaluation figures: one rule per figure family, reading the small CSVs of evaluate.

EVALUATION_FIGURES = {
    # figure name: (input table key, caption)
    "error_by_horizon": "summary",
    "model_comparison": "summary",
    "ablation": "summary",
    "dm_heatmap": "dm",
}


rule figure_forecasts:
    """Forecast vs actual for a few entities, all origins: reference model and naive."""
    input:
        predictions=lambda wildcards: forecast_figure_inputs(wildcards.dataset),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/forecasts.png",
            caption="../report/forecasts.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/forecasts.pdf",
    params:
        figure="forecasts",
        options={"reference": config["evaluation"]["reference"]},
        code=code_fingerprint("plotting"),
    log:
        f"{RESULTS}/logs/figures/forecasts_{{dataset}}.log",
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_evaluation.py"


rule figure_evaluation:
    """Error by horizon, model comparison, ablation chart and DM p-value heatmap."""
    input:
        table=lambda wildcards: (
            rules.evaluate.output.dm
            if EVALUATION_FIGURES[wildcards.figure] == "dm"
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
    wildcard_constraints:
        figure="|".join(EVALUATION_FIGURES),
    params:
        figure=lambda wildcards: wildcards.figure,
        options=lambda wildcards: (
            {"reference": config["evaluation"]["reference"]}
            if wildcards.figure == "ablation"
            else {}
        ),
        code=code_fingerprint("plotting"),
    log:
        f"{RESULTS}/logs/figures/{{figure}}_{{dataset}}.log",
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_evaluation.py"


rule figure_experiment_scores:
    """One score per data set and model (MASE over all horizons, mean over seeds)."""
    input:
        table=rules.cross_summary.output.table,
    output:
        png=report(
            f"{RESULTS}/evaluation/experiment_scores.png",
            caption="../report/experiment_scores.rst",
            category="Evaluation",
        ),
        pdf=f"{RESULTS}/evaluation/experiment_scores.pdf",
    params:
        figure="experiment_scores",
        code=code_fingerprint("plotting"),
    log:
        f"{RESULTS}/logs/figures/experiment_scores.log",
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_evaluation.py"


rule figure_scenarios:
    """Scenario effects by horizon and driver attribution of the reference model."""
    input:
        table=lambda wildcards: (
            rules.scenarios.output.summary
            if wildcards.kind == "scenarios"
            else rules.scenarios.output.attribution
        ),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/{{kind}}.png",
            caption="../report/scenarios.rst",
            category="Scenarios",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/{{kind}}.pdf",
    wildcard_constraints:
        kind="scenarios|attribution",
    params:
        figure=lambda wildcards: wildcards.kind,
        code=code_fingerprint("plotting"),
    log:
        f"{RESULTS}/logs/figures/{{kind}}_{{dataset}}.log",
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_scenarios.py"
