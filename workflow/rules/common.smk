import os
import re
import sys

from s1flow.config import CONTROL_MODEL_NAMES, run_plan, teacher_dataset_set
from s1flow.curate.select import SUBSETS as KNOWN_SUBSETS
from s1flow.errors import S1FlowError
from s1flow.nano import EVAL_SET_NAMES as SYNTHETIC_EVAL_SETS

# The config, validated against config/schema.yaml with its defaults filled, and everything it asks
# for (s1flow.config.run_plan: every cross-field check raises there, naming the key). A bad config
# stops the run at start-up with that one message and exit status 2. Below: file lists.
try:
    PLAN = run_plan(config)
except S1FlowError as exc:
    print(f"s1flow: config error: {exc}", file=sys.stderr)
    sys.exit(2)
config.update(PLAN.config)

# --software-deployment-method conda: each rule's environment installs s1flow from the repository root
# (envs/*.post-deploy.sh). Snakemake runs copies of the env files from .snakemake/conda/ (or
# --conda-prefix) in the working directory (--directory), so the root is passed by name, not by path.
os.environ.update(S1FLOW_ROOT=workflow.basedir)


def uses_vllm(section) -> bool:
    """Whether any `engine` key in this part of the config names vLLM."""
    if isinstance(section, dict):
        return section.get("engine") == "vllm" or any(uses_vllm(v) for v in section.values())
    if isinstance(section, list):
        return any(uses_vllm(v) for v in section)
    return False


# the generation rules' environment: vLLM's (numpy<2.4, CUDA) only where a config asks for it
GENERATE_ENV = "../../envs/generate-vllm.yaml" if uses_vllm(config) else "../../envs/generate.yaml"

SOURCES = {s.name: dict(s.spec) for s in PLAN.sources}
EVAL_SETS = {e.name: dict(e.spec) for e in PLAN.eval_sets}
# the eval sets models are swept on, and those the pool is decontaminated against
SWEPT_EVAL_SETS = list(PLAN.swept_eval_sets)
POOL_EVAL_SETS = list(PLAN.pool_eval_sets)
SUBSETS = list(PLAN.subsets)
# every subset name the selection knows
SUBSET_NAMES = list(KNOWN_SUBSETS)
# difficulty models: every alias, and those whose labels a model computes
ALIASES = list(PLAN.difficulty_aliases)
ANSWERING_MODELS = {alias: dict(spec) for alias, spec in PLAN.answering_models.items()}
TINY_MODELS = config["models"]
TRAINING = config["training"]
CONDITIONAL = config["conditional"]
# every fine-tuned model (the subsets, then the length-controlled models) and every evaluated model
CONTROL_NAMES = list(CONTROL_MODEL_NAMES.values())
CONTROL_MODELS = dict(PLAN.control_models)
# every fine-tuned model directory: each trained model once per training seed (training.seeds)
TRAINED_MODELS = list(PLAN.trained_replicates)
EVAL_MODELS = PLAN.eval_model_paths
SCALING_MODELS = list(PLAN.scaling_models)
PARALLEL_MODELS = list(PLAN.parallel_models)
OPEN_MODELS = list(PLAN.open_models)
CLASS_MODELS = list(PLAN.class_models)
# the ablation table's rows (Table 2): the trained subsets in selection order, then the base model
ABLATION_MODELS = list(PLAN.ablation_models)
# the rubric is downloaded only when it is not there yet: a file already at the path is a plain input,
# which no rule produces, so not even --forceall or --forcerun replaces it
DOWNLOAD_MSC_RUBRIC = bool(config["features"]["msc_rubric_url"]) and not os.path.exists(
    config["features"]["msc_rubric"]
)


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "^$"


wildcard_constraints:
    source=_alternatives(SOURCES),
    evalset=_alternatives(EVAL_SETS),
    subset=_alternatives(list(dict.fromkeys(SUBSET_NAMES + CONTROL_NAMES + TRAINED_MODELS))),
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
        config["features"]["teacher"] == "api" and teacher_dataset_set(config)
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
    """The report when models were fine-tuned and evaluated: the ablation table and the compute
    accounting, the method comparison and scaling figure when there are scaling or parallel models,
    and the sampled-runs table when some setting has several samples per question."""
    if not (TRAINING["enabled"] and SWEPT_EVAL_SETS):
        return []
    files = [f"results/report/ablation.{ext}" for ext in ("md", "csv", "tex")]
    files += [f"results/report/claims.{ext}" for ext in ("md", "csv")]
    if SCALING_MODELS or PARALLEL_MODELS or CONTROL_MODELS or CLASS_MODELS:
        files += [f"results/report/methods.{ext}" for ext in ("md", "csv")]
        files += [f"results/report/scaling.{ext}" for ext in ("png", "pdf")]
    if sampling_tables():
        files += [f"results/report/sampling.{ext}" for ext in ("md", "csv")]
    files += ["results/report/compute.md", "results/report/compute.csv", "results/report/matched.csv"]
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
    """A replicate (a training seed after the first) learns from its model's SFT table."""
    model, _ = PLAN.replicate(wildcards.subset)
    return {"sft": f"results/sft/{model}.parquet", "model": model_files(training_base_model())}


def train_seed(wildcards):
    """The training seed of a fine-tuned model directory (training.seeds; the top-level seed by default)."""
    return PLAN.replicate(wildcards.subset)[1]


def training_params():
    """The training section as the train rule's params, without the seed list: adding a seed trains only
    the new replicates."""
    return {k: v for k, v in config["training"].items() if k != "seeds"}


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


def model_evaluation(wildcards):
    """The model's sweep (s1flow.config.ModelSweep) as the sweep rule's params: a change to one model's
    settings reruns only that model's sweeps."""
    return PLAN.sweep(wildcards.evalmodel).to_params()


def report_tables(pairs):
    """A report rule's tables: [model, eval set, training seed] per replicate (seed None for a model not
    fine-tuned here), in the order of its samples files (report_samples)."""
    return [[model, evalset, seed] for _, model, evalset, seed in PLAN.with_replicates(pairs)]


def report_samples(pairs):
    return [samples_file(name, evalset) for name, _, evalset, _ in PLAN.with_replicates(pairs)]


def ablation_tables():
    return report_tables(PLAN.ablation_tables())


def method_tables():
    return report_tables(PLAN.method_tables())


def sampling_tables():
    return report_tables(PLAN.sampling_tables())


def claims_pairs():
    """The claims' samples: the ablation table's, and the reference model's when it has a scaling curve."""
    pairs = PLAN.ablation_tables() + [(m, e) for m in SCALING_MODELS for e in SWEPT_EVAL_SETS]
    return list(dict.fromkeys(pairs))


def claims_tables():
    return report_tables(claims_pairs())


def claims_samples(wildcards):
    return report_samples(claims_pairs())


def compute_tables():
    return report_tables(PLAN.compute_tables())


def compute_samples(wildcards):
    return report_samples(PLAN.compute_tables())


def sampling_samples(wildcards):
    return report_samples(PLAN.sampling_tables())


def ablation_samples(wildcards):
    return report_samples(PLAN.ablation_tables())


def method_samples(wildcards):
    return report_samples(PLAN.method_tables())
