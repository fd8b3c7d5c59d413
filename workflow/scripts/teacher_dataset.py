from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_teacher_dataset


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_teacher_dataset(sm.params.spec, sm.output.labels)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
