# Industry convergence: measure and forecast how industries and regional structures converge.
# Table of contents only; logic lives in src/convergence, rules in workflow/rules.

import os

from snakemake.utils import min_version

min_version("9.0")

# Jobs inherit this: MLflow's usage telemetry would try the network (none at run time).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


# `make quick` points this at the tiny test config; the default run uses config.yaml.
configfile: os.environ.get("CONVERGENCE_CONFIG", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/convergence.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/scenarios.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/figures_evaluation.smk"


# One process imports torch, Lightning, MLflow and the rest once; the jobs' scripts run in
# forks of it (convergence.forkserver). Hooks run only when there are jobs to run.
onstart:
    if config["forkserver"]:
        forkserver.start(f"{RESULTS}/logs/forkserver.log")


onsuccess:
    forkserver.stop()


onerror:
    forkserver.stop()


rule all:
    default_target: True
    input:
        all_targets(),
