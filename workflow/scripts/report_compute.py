from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_compute


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_compute(sm.params.tables, sm.input.samples, md=sm.output.md, csv=sm.output.csv,
                    matched_csv=sm.output.matched)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
