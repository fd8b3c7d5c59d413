import os

from s1flow.logs import setup_logging, stage_errors
from s1flow.stages.features import run_features


def main(sm):
    setup_logging(sm.log[0])
    os.environ.setdefault("RAYON_NUM_THREADS", str(sm.threads))
    trained = os.path.dirname(sm.input.tokenizer[0]) if sm.input.tokenizer else None
    with stage_errors():
        run_features(
            sm.input.pool,
            sm.output.features,
            tokenizer_cfg=sm.params.tokenizer,
            trained_tokenizer=trained,
            label_files=list(sm.input.labels),
            aliases=sm.params.aliases,
            trace_fallback=sm.params.trace_fallback,
            domain_fallback=sm.params.domain_fallback,
        )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
