import os

from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.train import run_train


def main(sm):
    setup_logging(sm.log.main)
    with stage_errors():
        run_train(sm.input.sft, sm.params.base_model, os.path.dirname(sm.output.config), sm.params.checkpoints,
                  training=sm.params.training, log_file=sm.log.workers, seed=sm.params.seed)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
