from s1flow.label_stages import run_teacher_grades
from s1flow.logs import setup_logging, stage_errors


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_teacher_grades(sm.input.pool, list(sm.input.labels), sm.output.labels, grader=sm.params.grader,
                           judge=sm.params.judge, cache_dir=sm.params.cache, report=sm.output.report)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
