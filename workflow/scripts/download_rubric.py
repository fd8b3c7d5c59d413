from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_download_rubric


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_download_rubric(sm.params.url, sm.output.rubric)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
