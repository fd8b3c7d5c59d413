import os

from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.labels import run_build_model


def main(sm):
    setup_logging(sm.log.main)
    with stage_errors():
        run_build_model(sm.params.tokenizer_dir, os.path.dirname(sm.output.config), spec=sm.params.spec,
                        seed=sm.params.seed, pool_file=sm.input.get("pool"), work_dir=sm.params.work,
                        log_file=sm.log.workers)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
