from s1flow.config.sweeps import ablation_setting, open_setting
from s1flow.logs import setup_logging, stage_errors
from s1flow.report.ablation import ablation_table, write_ablation
from s1flow.sweep import read_samples


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        setting = ablation_setting(sm.params.evaluation).name
        own = {m: open_setting(sm.params.evaluation).name for m in sm.params.open_models}
        samples = {tuple(key): read_samples(path) for key, path in zip(sm.params.tables, sm.input.samples, strict=True)}
        table = ablation_table(samples, setting=setting, reference=sm.params.reference,
                               n_resamples=sm.params.n_resamples, seed=sm.params.seed, model_settings=own)
        write_ablation(table, md=sm.output.md, csv=sm.output.csv, tex=sm.output.tex)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
