from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.pool import run_load_source


def main(sm):
    setup_logging(sm.log[0])
    spec = dict(sm.params.spec)
    synthetic = sm.input.get("table") if spec["kind"] == "synthetic" else None
    with stage_errors():
        run_load_source(spec, sm.output[0], seed=sm.params.seed, synthetic_questions=synthetic)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
