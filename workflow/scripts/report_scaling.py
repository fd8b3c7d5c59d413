from s1flow.logs import setup_logging, stage_errors
from s1flow.report.methods import method_points
from s1flow.report.scaling_plot import plot_scaling
from s1flow.sweep import read_samples


def main(sm):
    setup_logging(sm.log[0])
    with stage_errors():
        samples = {tuple(key): read_samples(path) for key, path in zip(sm.params.tables, sm.input.samples, strict=True)}
        plot_scaling(method_points(samples), sm.output.png, sm.output.pdf)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
