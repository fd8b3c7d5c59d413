from s1flow.label_stages import run_download_rubric
from s1flow.logs import setup_logging, stage_errors


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_download_rubric(sm.params.url, sm.output.rubric)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
