from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_teacher_traces


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_teacher_traces(sm.input.pool, list(sm.input.labels), sm.output.labels, teacher=sm.params.teacher,
                           cache_dir=sm.params.cache)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
