from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.features import run_train_tokenizer


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_train_tokenizer(
            sm.input.pool,
            sm.output.tokenizer.rsplit("/", 1)[0],
            teacher_file=sm.input.get("teacher"),
            vocab_size=sm.params.vocab_size,
        )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
