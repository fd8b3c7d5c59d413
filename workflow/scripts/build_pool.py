from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.pool import run_build_pool


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        run_build_pool(
            list(zip(sm.params.source_names, sm.input.sources, strict=True)),
            list(zip(sm.params.eval_names, sm.input.eval_sets, strict=True)),
            sm.output.pool,
            sm.output.report,
            specs=dict(zip(sm.params.source_names, sm.params.source_specs, strict=True)),
            decontamination=dict(sm.params.decontamination),
        )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
