from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_difficulty


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_difficulty(sm.input.pool, sm.output.labels, spec=sm.params.spec, seed=sm.params.seed,
                       grader=sm.params.grader, judge=sm.params.judge, cache_dir=sm.params.cache,
                       report=sm.output.report)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
