from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.synthetic import run_synthesize


def main(sm):
    setup_logging(sm.log[0])
    cfg = sm.params.synthetic
    with stage_errors():
        run_synthesize(
            sm.output.questions.rsplit("/", 1)[0],
            seed=sm.params.seed,
            pool_size=cfg["pool_size"],
            eval_size=cfg["eval_size"],
            duplicate_rate=cfg["duplicate_rate"],
            junk_rate=cfg["junk_rate"],
        )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
