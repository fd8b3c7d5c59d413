from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_sampling


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_sampling(sm.params.tables, sm.input.samples, n_resamples=sm.params.n_resamples, seed=sm.params.seed,
                     md=sm.output.md, csv=sm.output.csv)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
