"""One module per Snakemake rule file; each ``run(...)`` takes named input and output paths.

These are the only functions the workflow scripts call: a stage reads its inputs, calls
the package's pure functions and writes its outputs atomically with provenance, so every
rule can be run from a test or a REPL without Snakemake.
"""
