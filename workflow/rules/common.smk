import os
import re

from snakemake.utils import validate


validate(config, schema="../../config/schema.yaml")

SYNTHETIC_EVAL_SETS = ["synth_arith", "synth_mixed", "synth_mc", "synth_steps"]
SOURCES = {s["name"]: s for s in config["sources"]}
EVAL_SETS = {e["name"]: e for e in config.get("eval_sets", [])}
# the eval sets models are swept on, and those the pool is decontaminated against
SWEPT_EVAL_SETS = [name for name, e in EVAL_SETS.items() if e.get("evaluate", True)]
POOL_EVAL_SETS = [name for name, e in EVAL_SETS.items() if e.get("decontaminate", True)]
SUBSETS = list(dict.fromkeys(config["selection"]["subsets"]))
if len(SOURCES) != len(config["sources"]):
    raise ValueError("config key 'sources': source names must be unique")
if len(EVAL_SETS) != len(config.get("eval_sets", [])):
    raise ValueError("config key 'eval_sets': eval set names must be unique")
for _name, _spec in EVAL_SETS.items():
    if _spec["kind"] == "synthetic" and _name not in SYNTHETIC_EVAL_SETS:
        raise ValueError(f"config key 'eval_sets': synthetic eval set '{_name}' must be one of {SYNTHETIC_EVAL_SETS}")

# difficulty models: plain aliases (labels from files) or models that answer the pool
DIFFICULTY = [m if isinstance(m, dict) else {"alias": m} for m in config["difficulty"]["models"]]
ALIASES = [m["alias"] for m in DIFFICULTY]
ANSWERING_MODELS = {m["alias"]: m for m in DIFFICULTY if "model" in m}
TINY_MODELS = config.get("models", {})
if len(set(ALIASES)) != len(ALIASES):
    raise ValueError("config key 'difficulty.models': aliases must be unique")

# -- evaluated models: every trained subset, the base they were fine-tuned from, evaluation.models
TRAINING = config["training"]
TRAINED_SUBSETS = [s for s in (TRAINING.get("subsets") or SUBSETS) if s in SUBSETS] if TRAINING["enabled"] else []
EVALUATION = config["evaluation"]
# length-controlled models (Table 3): name -> control kind, fine-tuned on conditional.subset
SUBSET_NAMES = ["s1k", "random", "diverse", "longest", "full"]
CONTROL_NAMES = ["tokencond", "stepcond"]
CONDITIONAL = config["conditional"]
CONTROL_MODELS = {CONTROL_NAMES[0 if k == "tokens" else 1]: k for k in CONDITIONAL["models"]} \
    if TRAINING["enabled"] else {}
# every fine-tuned model: the subsets, then the length-controlled models
TRAINED_MODELS = TRAINED_SUBSETS + list(CONTROL_MODELS)
# name -> model directory / hub id
EVAL_MODELS = {s: f"results/models/sft/{s}" for s in TRAINED_MODELS}
if TRAINING["enabled"]:
    EVAL_MODELS["base"] = TRAINING["base_model"]
for _name, _model in EVALUATION["models"].items():
    if _name in EVAL_MODELS:
        _taken = "training.base_model" if _name == "base" else f"the model fine-tuned on subset '{_name}'"
        raise ValueError(f"config key 'evaluation.models': the name '{_name}' is taken by {_taken} "
                         f"({EVAL_MODELS[_name]}); choose another name")
    EVAL_MODELS[_name] = _model


def _check_evaluated(key, names):
    for name in names:
        if name in EVAL_MODELS:
            continue
        if name in (*SUBSET_NAMES, "base") and not TRAINING["enabled"]:
            why = f"'{name}' is evaluated only when training.enabled is true"
        elif name in SUBSET_NAMES:
            why = (f"subset '{name}' is not trained (selection.subsets: {SUBSETS}, "
                   f"training.subsets: {TRAINING.get('subsets') or 'all'})")
        else:
            why = f"'{name}' is not a trained subset, 'base' or a name of evaluation.models"
        raise ValueError(f"config key '{key}': {why}; evaluated models: {list(EVAL_MODELS)} "
                         f"(use [] for none)")


SCALING_MODELS = list(dict.fromkeys(EVALUATION["scaling_models"]))
PARALLEL_MODELS = list(dict.fromkeys(EVALUATION["parallel_models"]))
# models evaluated by their own response, without budget forcing (the paper's base-model row)
OPEN_MODELS = list(dict.fromkeys(EVALUATION["open_models"]))
_check_evaluated("evaluation.scaling_models", SCALING_MODELS)
_check_evaluated("evaluation.parallel_models", PARALLEL_MODELS)
_check_evaluated("evaluation.open_models", OPEN_MODELS)
if set(OPEN_MODELS) & set(SCALING_MODELS):
    raise ValueError(f"config key 'evaluation.open_models': {sorted(set(OPEN_MODELS) & set(SCALING_MODELS))} "
                     f"also in evaluation.scaling_models; a budget-forcing curve needs budget forcing")
CLASS_MODELS = list(dict.fromkeys(CONDITIONAL["class_models"]))
_check_evaluated("conditional.class_models", CLASS_MODELS)
if set(OPEN_MODELS) & set(CLASS_MODELS):
    raise ValueError(f"config key 'conditional.class_models': {sorted(set(OPEN_MODELS) & set(CLASS_MODELS))} "
                     f"also in evaluation.open_models; open models run no class prompts")
if CONTROL_MODELS and CONDITIONAL["subset"] not in TRAINED_SUBSETS:
    raise ValueError(f"config key 'conditional.subset': '{CONDITIONAL['subset']}' is not a trained subset "
                     f"({TRAINED_SUBSETS}); the length-controlled models are fine-tuned on its traces")
ABLATION = EVALUATION["ablation"]
# the scaling models' grid, with plan_from_config's fallbacks for empty lists
GRID_CAPS, GRID_WAITS = list(EVALUATION["caps"] or ["auto"]), list(EVALUATION["waits"] or [0])
# the caps that take the Wait counts above 0 (empty: every cap)
WAIT_CAPS = list(EVALUATION["wait_caps"])
if set(WAIT_CAPS) - set(GRID_CAPS):
    raise ValueError(f"config key 'evaluation.wait_caps': {[c for c in WAIT_CAPS if c not in GRID_CAPS]} not among "
                     f"evaluation.caps {GRID_CAPS}")
_ablation_waits = GRID_WAITS if not WAIT_CAPS or ABLATION["cap"] in WAIT_CAPS else [0]
if SCALING_MODELS and (ABLATION["cap"] not in GRID_CAPS or ABLATION["waits"] not in _ablation_waits):
    raise ValueError(f"config key 'evaluation.ablation': cap {ABLATION['cap']!r} with {ABLATION['waits']} Waits is "
                     f"not a setting of the scaling models' grid (evaluation.caps {GRID_CAPS} x "
                     f"evaluation.waits {GRID_WAITS}, Waits at {WAIT_CAPS or 'every cap'}), at which every model "
                     f"is compared")
# the ablation table (Table 2): the trained subsets in selection order, then the base model
ABLATION_MODELS = [s for s in SUBSETS if s in TRAINED_SUBSETS] + (["base"] if TRAINING["enabled"] else [])
REPORT = config["report"]
if TRAINING["enabled"] and REPORT["reference"] not in ABLATION_MODELS:
    raise ValueError(f"config key 'report.reference': '{REPORT['reference']}' is not a row of the ablation table "
                     f"(the trained subsets and 'base': {ABLATION_MODELS})")


def _endpoint_set(section):
    return bool(section and section.get("base_url") and section.get("model"))


if config["features"]["teacher"] == "api" and not _endpoint_set(config["features"].get("teacher_api")):
    raise ValueError("config key 'features.teacher_api': teacher 'api' needs base_url and model")
TEACHER_DATASET_SET = any(
    (config["features"].get("teacher_dataset") or {}).get(k) for k in ("preset", "dataset", "path")
)
if config["features"]["teacher"] == "dataset" and not TEACHER_DATASET_SET:
    raise ValueError("config key 'features.teacher_dataset': teacher 'dataset' needs a preset, a hub dataset or a path")
if config["features"]["domain"] == "judge" and not config["features"].get("msc_rubric"):
    raise ValueError("config key 'features.msc_rubric': domain 'judge' needs the MSC rubric file")
if config["features"]["msc_rubric_url"] and not config["features"]["msc_rubric"]:
    raise ValueError("config key 'features.msc_rubric': features.msc_rubric_url needs the path to save the rubric at")
# the rubric is downloaded only when it is not there yet: a file already at the path is a plain input,
# which no rule produces, so not even --forceall or --forcerun replaces it
DOWNLOAD_MSC_RUBRIC = bool(config["features"]["msc_rubric_url"]) and not os.path.exists(
    config["features"]["msc_rubric"]
)
_uses_judge = (config["features"]["domain"] == "judge" or config["features"]["teacher_grading"] == "judge"
               or (ANSWERING_MODELS and config["difficulty"]["grader"] == "judge")
               or (EVAL_MODELS and config["evaluation"]["grader"] == "judge"))
if _uses_judge and not _endpoint_set(config.get("judge")):
    raise ValueError("config key 'judge': grading or classifying by 'judge' needs the judge endpoint "
                     "(base_url and model)")
if TINY_MODELS and config["features"]["tokenizer"]["kind"] not in ("train", "path", "hub"):
    raise ValueError("config key 'models': tiny models need a tokenizer directory (features.tokenizer kind "
                     "'train', 'path' or 'hub')")


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


wildcard_constraints:
    source=_alternatives(SOURCES),
    evalset=_alternatives(EVAL_SETS),
    subset=_alternatives(SUBSET_NAMES + CONTROL_NAMES),
    control_model=_alternatives(CONTROL_NAMES),
    alias=_alternatives(ANSWERING_MODELS),
    model=_alternatives(TINY_MODELS),
    evalmodel=_alternatives(EVAL_MODELS),


def uses_synthetic_teacher():
    return config["features"]["teacher"] == "synthetic"


def uses_teacher_dataset():
    """Traces from an existing dataset: teacher 'dataset', or teacher 'api' writing only the
    traces the dataset lacks."""
    return config["features"]["teacher"] == "dataset" or (
        config["features"]["teacher"] == "api" and TEACHER_DATASET_SET
    )


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
    return [f"results/evalsets/{name}.parquet" for name in POOL_EVAL_SETS]


def teacher_label_files(wildcards=None):
    """Tables that may hold teacher traces: the synthetic teacher or an existing trace dataset,
    then the user's label tables."""
    files = ["results/synthetic/teacher.parquet"] if uses_synthetic_teacher() else []
    if uses_teacher_dataset():
        files.append("results/labels/teacher_dataset.parquet")
    return files + list(config["features"]["labels"])


def label_files(wildcards):
    """Every label table, merged in this order (later files win): teacher traces, the user's
    tables, then what models computed (API teacher traces, teacher grades, domains, difficulty)."""
    files = teacher_label_files()
    if config["features"]["teacher"] == "api":
        files.append("results/labels/teacher_api.parquet")
    if config["features"]["teacher_grading"] != "none":
        files.append("results/labels/teacher_grades.parquet")
    if config["features"]["domain"] == "judge":
        files.append("results/labels/domain.parquet")
    files += [f"results/labels/correct_{alias}.parquet" for alias in ANSWERING_MODELS]
    return files


def graded_attempt_files(wildcards):
    """Tables holding the teacher attempts that teacher grading reads."""
    files = teacher_label_files()
    if config["features"]["teacher"] == "api":
        files.append("results/labels/teacher_api.parquet")
    return files


def model_files(path):
    """Files that generation depends on for a model - a tiny model the workflow builds, or a
    local model directory's config; nothing for a hub id."""
    parts = os.path.normpath(path).split(os.sep)
    if len(parts) == 3 and parts[:2] == ["results", "models"] and parts[2] in TINY_MODELS:
        return [f"results/models/{parts[2]}/config.json"]
    if os.path.isdir(path):
        return [os.path.join(path, "config.json")]
    return []


def difficulty_model_files(wildcards):
    return model_files(ANSWERING_MODELS[wildcards.alias]["model"])


def eval_model_files(wildcards):
    """A fine-tuned subset model's config.json (made by the train rule), else the model's files."""
    if wildcards.evalmodel in TRAINED_MODELS:
        return [f"results/models/sft/{wildcards.evalmodel}/config.json"]
    return model_files(EVAL_MODELS[wildcards.evalmodel])


def tiny_model_tokenizer(wildcards):
    if config["features"]["tokenizer"]["kind"] == "train":
        return ["results/tokenizer/tokenizer.json"]
    return []


def tiny_model_tokenizer_dir():
    tok = config["features"]["tokenizer"]
    return "results/tokenizer" if tok["kind"] == "train" else tok["path"]


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


def trained_model_files():
    return [f"results/models/sft/{s}/config.json" for s in TRAINED_MODELS]


def samples_file(model, evalset):
    return f"results/eval/{model}/{evalset}/samples.parquet"


def sweep_files():
    return [samples_file(m, e) for m in EVAL_MODELS for e in SWEPT_EVAL_SETS]


def report_files():
    """The report when models were fine-tuned and evaluated: the ablation table, and the method
    comparison and scaling figure when there are scaling or parallel models."""
    if not (TRAINING["enabled"] and SWEPT_EVAL_SETS):
        return []
    files = [f"results/report/ablation.{ext}" for ext in ("md", "csv", "tex")]
    if SCALING_MODELS or PARALLEL_MODELS or CONTROL_MODELS or CLASS_MODELS:
        files += [f"results/report/methods.{ext}" for ext in ("md", "csv")]
        files += [f"results/report/scaling.{ext}" for ext in ("png", "pdf")]
    if sampling_tables():
        files += [f"results/report/sampling.{ext}" for ext in ("md", "csv")]
    return files


def final_outputs():
    return sweep_files() + trained_model_files() + report_files() + [
        "results/pool/pool.parquet",
        "results/pool/decontamination.json",
        "results/features/features.parquet",
        *[f"results/subsets/{name}.parquet" for name in SUBSETS],
        "results/subsets/funnel.json",
    ]


def tiny_model_spec(wildcards):
    return TINY_MODELS[wildcards.model]


def build_model_inputs(wildcards):
    """The tokenizer a tiny model is built on, and the pool when it is pretrained on direct answers."""
    files = {"tokenizer": tiny_model_tokenizer(wildcards)}
    pretrain = TINY_MODELS[wildcards.model].get("pretrain")
    if pretrain and pretrain.get("data") == "pool":
        files["pool"] = "results/pool/pool.parquet"
    return files


def tiny_model_work_dir(wildcards):
    return f"results/cache/models/{wildcards.model}"


def training_base_model():
    return config["training"]["base_model"]


def train_inputs(wildcards):
    return {"sft": f"results/sft/{wildcards.subset}.parquet", "model": model_files(training_base_model())}


def sft_data_inputs(wildcards):
    return {"subset": f"results/subsets/{wildcards.subset}.parquet", "model": model_files(training_base_model())}


def sft_control_inputs(wildcards):
    """A length-controlled model learns from the rows of conditional.subset."""
    return {"subset": f"results/subsets/{CONDITIONAL['subset']}.parquet", "model": model_files(training_base_model())}


def train_checkpoint_dir(wildcards):
    return f"results/checkpoints/{wildcards.subset}"


def model_output(path):
    """A fine-tuned model's file, write-protected when training.protect_models is set."""
    return protected(path) if config["training"].get("protect_models") else path


def train_resources():
    """What one training job asks for: `gpu` counts the GPUs of all its nodes (SLURM's --gpus).
    A multi-node job is an mpi-style job of one task per node: the SLURM executor then runs the
    rule without a wrapping job step, and the launcher's srun starts one torchrun per node."""
    training = config["training"]
    nodes = int(training["nodes"])
    resources = {
        "gpu": int(training["gpus_per_node"]) * nodes,
        "nodes": nodes,
        "mem_mb": training["mem_mb"],
        "runtime": training["runtime_minutes"],
    }
    if nodes > 1:
        resources.update(mpi="srun", tasks=nodes)
    return resources


def train_threads():
    """CPU processes (or GPUs) of one node."""
    return max(1, int(config["training"]["gpus_per_node"]) or int(config["training"]["processes_per_node"]))


def difficulty_inputs(wildcards):
    return {"pool": "results/pool/pool.parquet", "model": difficulty_model_files(wildcards)}


def difficulty_spec(wildcards):
    return ANSWERING_MODELS[wildcards.alias]


def vllm_gpus(engine, engine_options):
    """vLLM shards a model over tensor_parallel_size x pipeline_parallel_size GPUs; other engines ask for none."""
    if engine != "vllm":
        return 0
    options = engine_options or {}
    return int(options.get("tensor_parallel_size", 1)) * int(options.get("pipeline_parallel_size", 1))


def difficulty_gpus(wildcards):
    spec = ANSWERING_MODELS[wildcards.alias]
    return vllm_gpus(spec.get("engine"), spec.get("engine_options"))


def sweep_inputs(wildcards):
    """The eval set as its source holds it (choices intact) and the model's files."""
    return {**evalset_input(wildcards), "model": eval_model_files(wildcards)}


def sweep_benchmark(wildcards):
    """What the sweep loads: the eval set's local table, or a known benchmark name for hub sets."""
    spec = EVAL_SETS[wildcards.evalset]
    return wildcards.evalset if spec["kind"] == "hub" else evalset_input(wildcards)["table"]


def eval_model(wildcards):
    return EVAL_MODELS[wildcards.evalmodel]


def sweep_gpus():
    gen = config["generation"]
    return vllm_gpus(gen["engine"], gen.get("engine_options"))


def sweep_threads():
    """One CPU thread for a transformers sweep (tiny models gain little from more, and two sweeps
    then share a 2-core machine); vLLM's engine processes get two."""
    return 2 if config["generation"]["engine"] == "vllm" else 1


def sweep_cache(wildcards):
    return f"results/cache/sweeps/{wildcards.evalmodel}/{wildcards.evalset}"


# what plan_from_config reads besides the grid, the rejection caps and the majority vote
_SWEEP_KEYS = ("min_thinking", "ignore_str", "temperature", "samples", "rejection_max_tries", "majority_cap",
               "grader", "sampling_temperature", "graded_text")


def model_evaluation(wildcards):
    """The model's own evaluation section for its sweep: the caps x waits grid and rejection sampling
    for a scaling model, else the ablation setting alone; the majority vote for a parallel model.
    An open model runs the ablation cap (and its majority vote) as its own response."""
    name = wildcards.evalmodel
    plan = {k: EVALUATION[k] for k in _SWEEP_KEYS}
    if name in SCALING_MODELS:
        plan.update(caps=GRID_CAPS, waits=GRID_WAITS, rejection_caps=list(EVALUATION["rejection_caps"]))
        if WAIT_CAPS:  # the key only where it is used, so other sweeps keep their params
            plan["wait_caps"] = WAIT_CAPS
    elif name in OPEN_MODELS:
        plan.update(caps=[ABLATION["cap"]], waits=[0], min_thinking=0, rejection_caps=[], open=True)
    else:
        plan.update(caps=[ABLATION["cap"]], waits=[ABLATION["waits"]], rejection_caps=[])
    plan["majority_samples"] = EVALUATION["majority_samples"] if name in PARALLEL_MODELS else 0
    conditional = conditional_settings(name)
    if conditional:  # the key only where it is used, so other sweeps keep their params
        plan["conditional"] = conditional
    if name in CONTROL_MODELS:  # a length-controlled model runs its own prompts only
        plan.update(caps=[], waits=[0], rejection_caps=[])
    return plan


def conditional_settings(name):
    """The conditional settings of a model (s1flow.budget.Setting fields): its budgets alone and with
    budget forcing for a length-controlled model, the two class prompts for a class model."""
    limit = CONDITIONAL["limit"]
    kind = CONTROL_MODELS.get(name)
    out = []
    if kind:
        budgets = CONDITIONAL["token_budgets"] if kind == "tokens" else CONDITIONAL["step_budgets"]
        per = 1 if kind == "tokens" else CONDITIONAL["chunk_tokens"]
        for n in budgets:
            out.append({"condition": kind, "condition_value": n, "cap": limit, "forced": False})
            # s1's step-conditional forcing: cap auto, thinking ends at the "0 steps left" marker
            cap = "auto" if kind == "steps" and config["generation"]["compat"] == "s1" else n * per
            out.append({"condition": kind, "condition_value": n, "cap": cap, "forced": True})
    if name in CLASS_MODELS:
        out += [{"condition": "class", "condition_value": c, "cap": limit, "forced": False} for c in ("long", "short")]
    return out


def ablation_tables():
    """(model, eval set) of every samples table of the ablation table, rows first."""
    return [(m, e) for m in ABLATION_MODELS for e in SWEPT_EVAL_SETS]


def method_tables():
    """(model, eval set) of every samples table of the method comparison and the scaling figure."""
    models = SCALING_MODELS + PARALLEL_MODELS + list(CONTROL_MODELS) + CLASS_MODELS
    return [(m, e) for m in dict.fromkeys(models) for e in SWEPT_EVAL_SETS]


def sampling_tables():
    """(model, eval set) of every samples table with a sampled setting: the parallel models' majority
    vote, or every evaluated model when evaluation.samples > 1."""
    models = list(EVAL_MODELS) if EVALUATION["samples"] > 1 else (
        PARALLEL_MODELS if EVALUATION["majority_samples"] > 1 else [])
    return [(m, e) for m in models for e in SWEPT_EVAL_SETS]


def sampling_samples(wildcards):
    return [samples_file(m, e) for m, e in sampling_tables()]


def ablation_samples(wildcards):
    return [samples_file(m, e) for m, e in ablation_tables()]


def method_samples(wildcards):
    return [samples_file(m, e) for m, e in method_tables()]
