rule scenarios:
    """What-if scenarios (scale one driver over the last input window) and permutation
    importance of the reference model, across seeds. Sensitivity, not causal effects."""
    input:
        canonical=rules.ingest.output.canonical,
        checkpoints=lambda wildcards: list(reference_checkpoints(wildcards).values()),
    output:
        effects=f"{RESULTS}/{{dataset}}/scenarios/scenario_effects.csv",
        summary=report(
            f"{RESULTS}/{{dataset}}/scenarios/scenario_summary.csv",
            caption="../report/scenario_table.rst",
            category="Scenarios",
            subcategory="{dataset}",
        ),
        attribution=f"{RESULTS}/{{dataset}}/scenarios/attribution.csv",
        provenance=f"{RESULTS}/{{dataset}}/scenarios/provenance.json",
    log:
        f"{RESULTS}/logs/scenarios/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/scenarios/{{dataset}}.tsv"
    conda:
        "../../envs/convergence.yaml"
    params:
        spec=dataset_spec,
        measures=config["measures"],
        training_cfg=training_cfg,
        model=REFERENCE,
        checkpoint_dirs=reference_checkpoints,
        scenarios=lambda wildcards: config["evaluation"]["scenarios"].get(
            wildcards.dataset, []
        ),
        numerics=config["numerics"]["isa"],
        code=fingerprint("scenarios"),
    script:
        "../scripts/scenarios.py"
