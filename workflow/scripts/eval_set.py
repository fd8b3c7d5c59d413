from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.pool import run_eval_set


def main(sm):
    setup_logging(sm.log[0])
    spec = dict(sm.params.spec)
    synthetic = sm.input.get("table") if spec["kind"] == "synthetic" else None
    with stage_errors():
        run_eval_set(spec, sm.output[0], synthetic_file=synthetic)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
