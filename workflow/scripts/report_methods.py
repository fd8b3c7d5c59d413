from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_methods


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_methods(sm.params.tables, sm.input.samples, md=sm.output.md, csv=sm.output.csv,
                    n_resamples=sm.params.n_resamples, seed=sm.params.seed)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
