from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.report import run_claims


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_claims(sm.params.tables, sm.input.samples, evaluation=sm.params.evaluation,
                   reference=sm.params.reference, evalsets=sm.params.evalsets,
                   scaling_models=sm.params.scaling_models, ablation_models=sm.params.ablation_models,
                   open_models=sm.params.open_models, n_resamples=sm.params.n_resamples, seed=sm.params.seed,
                   md=sm.output.md, csv=sm.output.csv)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
