from s1flow.config.settings import selection_settings
from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.select import run_funnel


def main(sm):
    setup_logging(sm.log[0])
    names = sm.params.subset_names
    with stage_errors():
        run_funnel(
            sm.input.features,
            dict(zip(names, sm.input.subsets, strict=True)),
            dict(zip(names, sm.input.details, strict=True)),
            selection_settings(sm.params.selection, sm.params.seed),
            sm.output.funnel,
        )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
