from s1flow.config.settings import selection_settings
from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.select import run_select


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        settings = selection_settings(sm.params.selection, sm.params.seed)
        run_select(sm.input.features, sm.wildcards.subset, settings, sm.output.subset, sm.output.details)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
