from s1flow.logs import setup_logging, stage_errors
from s1flow.report.sampling import sampling_table, write_sampling
from s1flow.sweep import read_samples


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        samples = {tuple(key): read_samples(path) for key, path in zip(sm.params.tables, sm.input.samples, strict=True)}
        write_sampling(sampling_table(samples), md=sm.output.md, csv=sm.output.csv)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
