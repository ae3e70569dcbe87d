rule measure:
    """Composite indices, coupling (classical and adjusted), coordination degree and grades;
    structural similarity and sigma-convergence."""
    input:
        canonical=rules.ingest.output.canonical,
        model=rules.normalize.output.model,
        provenance=rules.ingest.output.provenance,
    output:
        coupling=report(
            f"{RESULTS}/{{dataset}}/measure/coupling.csv",
            caption="../report/coupling_table.rst",
            category="Measures",
            subcategory="{dataset}",
        ),
        grades=f"{RESULTS}/{{dataset}}/measure/grade_distribution.csv",
        sigma=f"{RESULTS}/{{dataset}}/measure/sigma_convergence.csv",
        structure=f"{RESULTS}/{{dataset}}/measure/structure_convergence.csv",
        pairs=f"{RESULTS}/{{dataset}}/measure/structure_pairs.parquet",
        provenance=f"{RESULTS}/{{dataset}}/measure/provenance.json",
    log:
        f"{RESULTS}/logs/measure/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/measure/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    resources:
        runtime=20,
        mem_mb=4000,
    params:
        spec=dataset_spec,
        measures=config["measures"],
        code=fingerprint("measure"),
    script:
        "../scripts/measure.py"
