from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_ablation


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_ablation(sm.params.tables, sm.input.samples, evaluation=sm.params.evaluation,
                     open_models=sm.params.open_models, reference=sm.params.reference,
                     n_resamples=sm.params.n_resamples, seed=sm.params.seed, md=sm.output.md, csv=sm.output.csv,
                     tex=sm.output.tex)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
