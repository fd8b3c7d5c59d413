from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.train import run_sft_data


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_sft_data(sm.input.subset, sm.params.tokenizer, sm.output.sft, sm.output.report,
                     block_size=sm.params.block_size)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
