from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_scaling_figure


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_scaling_figure(sm.params.tables, sm.input.samples, png=sm.output.png, pdf=sm.output.pdf,
                           n_resamples=sm.params.n_resamples, seed=sm.params.seed)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
