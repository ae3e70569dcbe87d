rule convergence:
    """Beta, sigma and Phillips-Sul club convergence of D across the data set's entities."""
    input:
        coupling=rules.measure.output.coupling,
        provenance=rules.measure.output.provenance,
    output:
        beta=report(
            f"{RESULTS}/{{dataset}}/convergence/beta.csv",
            caption="../report/convergence_table.rst",
            category="Convergence tests",
            subcategory="{dataset}",
        ),
        points=f"{RESULTS}/{{dataset}}/convergence/beta_points.csv",
        sigma=f"{RESULTS}/{{dataset}}/convergence/sigma.csv",
        sigma_trend=report(
            f"{RESULTS}/{{dataset}}/convergence/sigma_trend.csv",
            caption="../report/sigma_table.rst",
            category="Convergence tests",
            subcategory="{dataset}",
        ),
        log_t=f"{RESULTS}/{{dataset}}/convergence/log_t.csv",
        clubs=f"{RESULTS}/{{dataset}}/convergence/clubs.csv",
        transition=f"{RESULTS}/{{dataset}}/convergence/transition.csv",
        provenance=f"{RESULTS}/{{dataset}}/convergence/provenance.json",
    log:
        f"{RESULTS}/logs/convergence/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/convergence/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        settings=CONVERGENCE_PARAMS,
        code=fingerprint("convergence"),
    script:
        "../scripts/convergence.py"


rule convergence_series:
    """The same tests on one subsystem's composite index U_k (column of coupling.csv);
    requested per subsystem when convergence_tests.subsystems is on."""
    input:
        coupling=rules.measure.output.coupling,
        provenance=rules.measure.output.provenance,
    output:
        beta=f"{SERIES_DIR}/beta.csv",
        points=f"{SERIES_DIR}/beta_points.csv",
        sigma=f"{SERIES_DIR}/sigma.csv",
        sigma_trend=f"{SERIES_DIR}/sigma_trend.csv",
        log_t=report(
            f"{SERIES_DIR}/log_t.csv",
            caption="../report/convergence_series_table.rst",
            category="Convergence tests",
            subcategory="{dataset}",
        ),
        clubs=f"{SERIES_DIR}/clubs.csv",
        transition=f"{SERIES_DIR}/transition.csv",
        provenance=f"{SERIES_DIR}/provenance.json",
    log:
        f"{RESULTS}/logs/convergence_series/{{dataset}}/{{series}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/convergence_series/{{dataset}}/{{series}}.tsv"
    wildcard_constraints:
        series="U_[^/]+",
    conda:
        "../../envs/convergence.yaml"
    params:
        settings=CONVERGENCE_PARAMS,
        code=fingerprint("convergence"),
    script:
        "../scripts/convergence.py"


rule figure_convergence:
    """Relative transition paths coloured by club; beta scatter with the fit line."""
    input:
        unpack(
            lambda wildcards: {
                name: getattr(rules.convergence.output, name)
                for name in CONVERGENCE_FIGURES[wildcards.figure]
            }
        ),
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/{{figure}}.png",
            caption="../report/convergence_figure.rst",
            category="Convergence tests",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}_{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{figure}}_{{dataset}}.tsv"
    wildcard_constraints:
        figure="|".join(CONVERGENCE_FIGURES),
    conda:
        "../../envs/convergence.yaml"
    params:
        figure=lambda wildcards: wildcards.figure,
        code=fingerprint("convergence"),
    script:
        "../scripts/figure_convergence.py"
