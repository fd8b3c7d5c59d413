#!/usr/bin/env bash
# Snakemake runs this once in the new environment: it installs s1flow itself, editable (the
# environment follows the checkout), without dependencies (the .yaml beside this file lists
# what this stage imports; pip would otherwise add every dependency of the project). The
# repository root comes from the workflow (workflow/rules/common.smk sets S1FLOW_ROOT to the
# Snakefile's folder): Snakemake runs a copy of this script from .snakemake/conda/, so no
# path relative to this file or to the working directory would find it.
set -euo pipefail
python -m pip install --no-deps --editable "${S1FLOW_ROOT:?S1FLOW_ROOT (the repository root) is set by the workflow}"
