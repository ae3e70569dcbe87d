rule figure_trajectories:
    """Coordination degree D over time per entity."""
    input:
        coupling=rules.measure.output.coupling,
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/trajectories.png",
            caption="../report/trajectories.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/trajectories.pdf",
    log:
        f"{RESULTS}/logs/figures/trajectories_{{dataset}}.log",
    params:
        code=code_fingerprint("plotting"),
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_trajectories.py"


rule figure_heatmap:
    """Entity x period heatmap of D."""
    input:
        coupling=rules.measure.output.coupling,
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/heatmap.png",
            caption="../report/heatmap.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/heatmap.pdf",
    log:
        f"{RESULTS}/logs/figures/heatmap_{{dataset}}.log",
    params:
        code=code_fingerprint("plotting"),
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_heatmap.py"


rule figure_grades:
    """Distribution of coordination grades over time."""
    input:
        grades=rules.measure.output.grades,
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/grades.png",
            caption="../report/grades.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/grades.pdf",
    log:
        f"{RESULTS}/logs/figures/grades_{{dataset}}.log",
    params:
        code=code_fingerprint("plotting"),
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_grades.py"


rule figure_structure:
    """Structural similarity and sigma-convergence over time."""
    input:
        structure=rules.measure.output.structure,
        sigma=rules.measure.output.sigma,
    output:
        png=report(
            f"{RESULTS}/{{dataset}}/figures/structure.png",
            caption="../report/structure.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        pdf=f"{RESULTS}/{{dataset}}/figures/structure.pdf",
    log:
        f"{RESULTS}/logs/figures/structure_{{dataset}}.log",
    params:
        code=code_fingerprint("plotting"),
    conda:
        "../../envs/convergence.yaml"
    script:
        "../scripts/figure_structure.py"
