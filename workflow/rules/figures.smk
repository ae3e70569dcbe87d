# Figures of the descriptive measures: one rule, one figure per job, reading measure tables.


rule figure_measures:
    """Trajectories of D, entity x period heatmap, grade distribution, structural convergence."""
    input:
        unpack(
            lambda wildcards: {
                name: getattr(rules.measure.output, name)
                for name in MEASURE_FIGURES[wildcards.figure]
            }
        ),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/{{figure}}.png",
            caption="../report/measure_figure.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{figure}}_{{dataset}}.tsv"
    wildcard_constraints:
        figure="|".join(MEASURE_FIGURES),
    conda:
        "../../envs/convergence.yaml"
    params:
        figure=lambda wildcards: wildcards.figure,
        code=fingerprint("figures"),
    script:
        "../scripts/figures.py"
