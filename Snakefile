# s1flow: s1 ("Simple test-time scaling") as a reproducible workflow.
# The default config runs the embedded synthetic "nano" data offline; see README.md.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default is read only when no --configfile is given: a config file passed on the
# command line is complete on its own (what it leaves out takes config/schema.yaml's default), as
# `s1flow plan-train --config` reads it. --config KEY=VALUE applies on top of either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/pool.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
