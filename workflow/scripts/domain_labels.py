from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_domains


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_domains(sm.input.pool, sm.output.labels, rubric=sm.input.rubric, judge=sm.params.judge,
                    cache_dir=sm.params.cache, report=sm.output.report)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
