from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.evaluate import run_sweep


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_sweep(sm.params.model, sm.params.benchmark, sm.output.samples, evaluation=sm.params.evaluation,
                  generation=sm.params.generation, seed=sm.params.seed, cache_dir=sm.params.cache,
                  name=sm.wildcards.evalset, judge=sm.params.judge, threads=sm.threads)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
