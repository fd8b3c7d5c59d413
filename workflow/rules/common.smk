import re

from snakemake.utils import validate


validate(config, schema="../../config/schema.yaml")

SYNTHETIC_EVAL_SETS = ["synth_arith", "synth_mixed", "synth_mc"]
SOURCES = {s["name"]: s for s in config["sources"]}
EVAL_SETS = {e["name"]: e for e in config.get("eval_sets", [])}
SUBSETS = list(dict.fromkeys(config["selection"]["subsets"]))
if len(SOURCES) != len(config["sources"]):
    raise ValueError("config key 'sources': source names must be unique")
if len(EVAL_SETS) != len(config.get("eval_sets", [])):
    raise ValueError("config key 'eval_sets': eval set names must be unique")
for _name, _spec in EVAL_SETS.items():
    if _spec["kind"] == "synthetic" and _name not in SYNTHETIC_EVAL_SETS:
        raise ValueError(f"config key 'eval_sets': synthetic eval set '{_name}' must be one of {SYNTHETIC_EVAL_SETS}")


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


wildcard_constraints:
    source=_alternatives(SOURCES),
    evalset=_alternatives(EVAL_SETS),
    subset=_alternatives(["s1k", "random", "diverse", "longest", "full"]),


def uses_synthetic_teacher():
    return config["features"]["teacher"] == "synthetic"


def source_spec(wildcards):
    return SOURCES[wildcards.source]


def source_input(wildcards):
    """The local file or the synthetic questions a source reads (hub sources read nothing local)."""
    spec = SOURCES[wildcards.source]
    if spec["kind"] == "file":
        return {"table": spec["path"]}
    if spec["kind"] == "synthetic":
        return {"table": "results/synthetic/questions.parquet"}
    return {}


def evalset_spec(wildcards):
    return EVAL_SETS[wildcards.evalset]


def evalset_input(wildcards):
    spec = EVAL_SETS[wildcards.evalset]
    if spec["kind"] == "file":
        return {"table": spec["path"]}
    if spec["kind"] == "synthetic":
        return {"table": f"results/synthetic/eval/{wildcards.evalset}.parquet"}
    return {}


def pool_source_files(wildcards):
    return [f"results/sources/{name}.parquet" for name in SOURCES]


def pool_evalset_files(wildcards):
    return [f"results/evalsets/{name}.parquet" for name in EVAL_SETS]


def label_files(wildcards):
    """Teacher labels (synthetic teacher) first, then the user's label tables (later files win)."""
    files = ["results/synthetic/teacher.parquet"] if uses_synthetic_teacher() else []
    return files + list(config["features"]["labels"])


def tokenizer_files(wildcards):
    if config["features"]["tokenizer"]["kind"] == "train":
        return ["results/tokenizer/tokenizer.json"]
    return []


def tokenizer_training_inputs(wildcards):
    files = {"pool": "results/pool/pool.parquet"}
    if uses_synthetic_teacher():
        files["teacher"] = "results/synthetic/teacher.parquet"
    return files


def subset_files(wildcards):
    return [f"results/subsets/{name}.parquet" for name in SUBSETS]


def subset_detail_files(wildcards):
    return [f"results/subsets/{name}.details.json" for name in SUBSETS]


def final_outputs():
    return [
        "results/pool/pool.parquet",
        "results/pool/decontamination.json",
        "results/features/features.parquet",
        *[f"results/subsets/{name}.parquet" for name in SUBSETS],
        "results/subsets/funnel.json",
    ]
