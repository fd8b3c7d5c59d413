"""The run plan: what a validated config asks the workflow to make, as typed, frozen objects.

:func:`run_plan` reads a config once (schema defaults filled, every cross-field rule checked,
errors naming the key) and derives the sources, the eval sets, the models to train and, for
every evaluated model, the exact sweep it runs. The Snakefile only turns the plan into file
lists; the command line builds its sweeps through the same :class:`ModelSweep`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from s1flow.config.loading import read_yaml, validated
from s1flow.config.settings import selection_settings
from s1flow.config.sweeps import ConditionalSpec, ModelSweep
from s1flow.curate.select import SUBSETS
from s1flow.curate.sources.presets import get_preset
from s1flow.errors import ConfigError, InputFileError
from s1flow.io import detect_format
from s1flow.nano import EVAL_SET_NAMES
from s1flow.nano.tiny_model import TinyModelSpec
from s1flow.train.settings import gradient_accumulation_steps

#: the fine-tuned length-controlled models (Table 3), by the control they learn
CONTROL_MODEL_NAMES: Mapping[str, str] = MappingProxyType({"tokens": "tokencond", "steps": "stepcond"})
#: the name of the model the subsets are fine-tuned from, in every table
BASE = "base"


@dataclass(frozen=True)
class Source:
    """One question source (``sources[]``): its name, kind and the whole spec its stage reads."""

    name: str
    kind: str
    spec: Mapping[str, Any]

    @property
    def path(self) -> str | None:
        return self.spec.get("path")


@dataclass(frozen=True)
class EvalSet:
    """One eval set (``eval_sets[]``): swept (`evaluate`) and/or decontaminated against."""

    name: str
    kind: str
    spec: Mapping[str, Any]
    evaluate: bool
    decontaminate: bool

    @property
    def path(self) -> str | None:
        return self.spec.get("path")


@dataclass(frozen=True)
class EvalModel:
    """An evaluated model: a fine-tuned subset or control model, the base, or one of ``evaluation.models``."""

    name: str
    path: str
    trained: bool


@dataclass(frozen=True)
class RunPlan:
    """Everything the config asks for, derived once."""

    config: Mapping[str, Any]
    sources: tuple[Source, ...]
    eval_sets: tuple[EvalSet, ...]
    subsets: tuple[str, ...]
    trained_subsets: tuple[str, ...]
    #: length-controlled model name -> its control ("tokens" or "steps")
    control_models: Mapping[str, str]
    eval_models: tuple[EvalModel, ...]
    scaling_models: tuple[str, ...]
    parallel_models: tuple[str, ...]
    open_models: tuple[str, ...]
    class_models: tuple[str, ...]
    ablation_models: tuple[str, ...]
    #: difficulty aliases whose labels a model computes -> their spec
    answering_models: Mapping[str, Mapping[str, Any]]
    difficulty_aliases: tuple[str, ...]
    sweeps: Mapping[str, ModelSweep] = field(repr=False)
    #: the training seeds: every fine-tuned model is trained once per seed
    train_seeds: tuple[int, ...] = (0,)
    #: every fine-tuned replicate's name -> (its model, its training seed); the first seed's keeps the model's name
    replicates: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def swept_eval_sets(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.eval_sets if e.evaluate)

    @property
    def pool_eval_sets(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.eval_sets if e.decontaminate)

    @property
    def trained_models(self) -> tuple[str, ...]:
        """Every fine-tuned model: the subsets, then the length-controlled models."""
        return self.trained_subsets + tuple(self.control_models)

    @property
    def trained_replicates(self) -> tuple[str, ...]:
        """Every fine-tuned model directory's name: each trained model once per training seed."""
        return tuple(self.replicates)

    @property
    def eval_model_paths(self) -> dict[str, str]:
        """Every swept model (the fine-tuned replicates included) -> its path."""
        paths = {m.name: m.path for m in self.eval_models}
        for name, (model, _) in self.replicates.items():
            if name != model:
                paths[name] = f"results/models/sft/{name}"
        return paths

    def replicate(self, name: str) -> tuple[str, int | None]:
        """(model, training seed) of a swept model's name; the seed is None for a model not fine-tuned here."""
        return self.replicates.get(name, (name, None))

    def with_replicates(self, tables: list[tuple[str, str]]) -> list[tuple[str, str, str, int | None]]:
        """(swept model name, model, eval set, training seed) of every replicate of each (model, eval set)."""
        out = []
        for model, evalset in tables:
            names = [n for n, (m, _) in self.replicates.items() if m == model] or [model]
            out += [(n, model, evalset, self.replicate(n)[1]) for n in names]
        return out

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)

    def eval_set(self, name: str) -> EvalSet:
        return next(e for e in self.eval_sets if e.name == name)

    def sweep(self, model: str) -> ModelSweep:
        """The settings `model` runs on every swept eval set."""
        try:
            return self.sweeps[self.replicate(model)[0]]
        except KeyError:
            raise ConfigError(f"'{model}' is not an evaluated model ({list(self.sweeps)})") from None

    def ablation_tables(self) -> list[tuple[str, str]]:
        """(model, eval set) of every samples table of the ablation table, rows first."""
        return [(m, e) for m in self.ablation_models for e in self.swept_eval_sets]

    def method_tables(self) -> list[tuple[str, str]]:
        """(model, eval set) of every samples table of the method comparison and the scaling figure."""
        models = (*self.scaling_models, *self.parallel_models, *self.control_models, *self.class_models)
        return [(m, e) for m in dict.fromkeys(models) for e in self.swept_eval_sets]

    def compute_tables(self) -> list[tuple[str, str]]:
        """(model, eval set) of every samples table: the compute accounting covers every swept model."""
        return [(m.name, e) for m in self.eval_models for e in self.swept_eval_sets]

    def sampling_tables(self) -> list[tuple[str, str]]:
        """(model, eval set) of every samples table with a sampled setting: the parallel models'
        majority vote, or every evaluated model when evaluation.samples > 1."""
        evaluation = self.config["evaluation"]
        if evaluation["samples"] > 1:
            models: tuple[str, ...] = tuple(m.name for m in self.eval_models)
        else:
            models = self.parallel_models if evaluation["majority_samples"] > 1 else ()
        return [(m, e) for m in models for e in self.swept_eval_sets]


def replicate_name(model: str, seed: int) -> str:
    """The name of `model` fine-tuned with training seed `seed` (a seed after the first of training.seeds)."""
    return f"{model}-seed{seed}"


def _unique(values: Any) -> tuple:
    return tuple(dict.fromkeys(values))


def _check_evaluated(key: str, names: tuple[str, ...], eval_models: dict[str, str], training: Mapping,
                     subsets: tuple[str, ...]) -> None:
    for name in names:
        if name in eval_models:
            continue
        if name in (*SUBSETS, BASE) and not training["enabled"]:
            why = f"'{name}' is evaluated only when training.enabled is true"
        elif name in SUBSETS:
            why = (f"subset '{name}' is not trained (selection.subsets: {list(subsets)}, "
                   f"training.subsets: {training.get('subsets') or 'all'})")
        else:
            why = f"'{name}' is not a trained subset, '{BASE}' or a name of evaluation.models"
        raise ConfigError(f"config key '{key}': {why}; evaluated models: {list(eval_models)} (use [] for none)")


def _endpoint_set(section: Mapping | None) -> bool:
    return bool(section and section.get("base_url") and section.get("model"))


def _check_features(config: Mapping[str, Any], answering: bool, evaluating: bool) -> None:
    features = config["features"]
    if features["teacher"] == "api" and not _endpoint_set(features.get("teacher_api")):
        raise ConfigError("config key 'features.teacher_api': teacher 'api' needs base_url and model")
    if features["teacher"] == "dataset" and not teacher_dataset_set(config):
        raise ConfigError("config key 'features.teacher_dataset': teacher 'dataset' needs a preset, a hub dataset "
                          "or a path")
    if features["domain"] == "judge" and not features.get("msc_rubric"):
        raise ConfigError("config key 'features.msc_rubric': domain 'judge' needs the MSC rubric file")
    if features["msc_rubric_url"] and not features["msc_rubric"]:
        raise ConfigError("config key 'features.msc_rubric': features.msc_rubric_url needs the path to save the "
                          "rubric at")
    uses_judge = (features["domain"] == "judge" or features["teacher_grading"] == "judge"
                  or (answering and config["difficulty"]["grader"] == "judge")
                  or (evaluating and config["evaluation"]["grader"] == "judge"))
    if uses_judge and not _endpoint_set(config.get("judge")):
        raise ConfigError("config key 'judge': grading or classifying by 'judge' needs the judge endpoint "
                          "(base_url and model)")
    from_labels = [m for m in config["difficulty"]["models"] if isinstance(m, str) or "model" not in m]
    if from_labels and not features["labels"]:
        alias = from_labels[0] if isinstance(from_labels[0], str) else from_labels[0]["alias"]
        raise ConfigError(f"config key 'difficulty.models': '{alias}' has no model, so its correct_{alias} column "
                          "comes from features.labels, which is empty (give the model, or the label table)")
    if config.get("models") and features["tokenizer"]["kind"] not in ("train", "path", "hub"):
        raise ConfigError("config key 'models': tiny models need a tokenizer directory (features.tokenizer kind "
                          "'train', 'path' or 'hub')")


def teacher_dataset_set(config: Mapping[str, Any]) -> bool:
    """Whether ``features.teacher_dataset`` names a dataset (a preset, a hub id or a path)."""
    return any((config["features"].get("teacher_dataset") or {}).get(k) for k in ("preset", "dataset", "path"))


def _sources_and_eval_sets(config: Mapping[str, Any]) -> tuple[tuple[Source, ...], tuple[EvalSet, ...]]:
    sources = tuple(Source(s["name"], s["kind"], MappingProxyType(dict(s))) for s in config["sources"])
    if len({s.name for s in sources}) != len(sources):
        raise ConfigError("config key 'sources': source names must be unique")
    eval_sets = tuple(EvalSet(e["name"], e["kind"], MappingProxyType(dict(e)), bool(e.get("evaluate", True)),
                              bool(e.get("decontaminate", True))) for e in config.get("eval_sets", []))
    if len({e.name for e in eval_sets}) != len(eval_sets):
        raise ConfigError("config key 'eval_sets': eval set names must be unique")
    for s in sources:
        where = f"config key 'sources[{s.name}]'"
        if s.kind == "file" and not s.spec.get("path"):
            raise ConfigError(f"{where}: kind 'file' needs 'path' (the local question file)")
        if s.kind == "hub" and not (s.spec.get("preset") or s.spec.get("dataset")):
            raise ConfigError(f"{where}: kind 'hub' needs 'preset' (see `s1flow presets`) or 'dataset'")
        if s.spec.get("preset"):
            if s.kind == "synthetic":
                raise ConfigError(f"{where}: kind 'synthetic' takes no preset (presets map hub or file sources)")
            get_preset(s.spec["preset"], where)
        if s.kind == "file":
            _check_table_file(f"sources[{s.name}].path", s.spec["path"], s.spec.get("format", "auto"))
    for e in eval_sets:
        where = f"config key 'eval_sets[{e.name}]'"
        if e.kind == "synthetic" and e.name not in EVAL_SET_NAMES:
            raise ConfigError(f"config key 'eval_sets': synthetic eval set '{e.name}' must be one of "
                              f"{list(EVAL_SET_NAMES)}")
        if e.kind == "file" and not e.spec.get("path"):
            raise ConfigError(f"{where}: kind 'file' needs 'path' (the local eval file)")
        if e.kind == "file":
            _check_table_file(f"eval_sets[{e.name}].path", e.spec["path"])
        if e.kind == "hub" and not e.spec.get("dataset"):
            raise ConfigError(f"{where}: kind 'hub' needs 'dataset' (a Hugging Face dataset id)")
    return sources, eval_sets


def _check_table_file(key: str, path: str, fmt: str = "auto") -> None:
    """A local table the config names exists and has a format s1flow reads (paths relative to the working
    directory, as the jobs read them)."""
    if not os.path.isfile(os.path.expanduser(path)):
        what = "is a directory" if os.path.isdir(os.path.expanduser(path)) else "not found"
        raise ConfigError(f"config key '{key}': {path!r} {what}; expected a table file (parquet, jsonl, json or csv)")
    if fmt == "auto":
        try:
            detect_format(path)
        except InputFileError as exc:
            raise ConfigError(f"config key '{key}': {exc}") from None


def _check_models_and_batches(config: Mapping[str, Any]) -> None:
    """The tiny models' shapes, and a global batch the training processes can split evenly."""
    fields = set(TinyModelSpec.__dataclass_fields__)
    for name, spec in (config.get("models") or {}).items():
        TinyModelSpec(**{k: v for k, v in spec.items() if k in fields}).validate(f"config key 'models.{name}'")
    training = config["training"]
    if training["enabled"]:
        world = int(training["nodes"]) * int(training["gpus_per_node"] or training["processes_per_node"])
        try:
            gradient_accumulation_steps(int(training["global_batch_size"]), int(training["micro_batch_size"]),
                                        world)
        except ConfigError as exc:
            raise ConfigError(f"config key 'training.global_batch_size': {exc} (training.nodes x "
                              "gpus_per_node, or processes_per_node without GPUs)") from None


def _check_tokenizer(tokenizer: Mapping[str, Any]) -> None:
    """The tokenizer's files exist (paths are relative to the working directory, as the stages read them)."""
    kind = tokenizer["kind"]
    if kind in ("path", "hub") and not tokenizer.get("path"):
        raise ConfigError(f"config key 'features.tokenizer.path': kind '{kind}' needs 'path' "
                          f"({'a tokenizer directory' if kind == 'path' else 'a Hugging Face model id'})")
    if kind == "path" and not os.path.isdir(tokenizer["path"]):
        raise ConfigError(f"config key 'features.tokenizer.path': {tokenizer['path']!r} is not a directory "
                          "(kind 'path' reads tokenizer.json or vocab.json + merges.txt there; "
                          "use kind 'hub' for a model id)")
    if kind == "vocab_merges":
        for key in ("vocab", "merges"):
            if not tokenizer.get(key) or not os.path.isfile(tokenizer[key]):
                raise ConfigError(f"config key 'features.tokenizer.{key}': kind 'vocab_merges' needs the file, "
                                  f"got {tokenizer.get(key)!r} (not found)")


def _eval_models(config: Mapping[str, Any], trained: tuple[str, ...]) -> dict[str, str]:
    training = config["training"]
    paths = {name: f"results/models/sft/{name}" for name in trained}
    if training["enabled"]:
        paths[BASE] = training["base_model"]
    for name, model in config["evaluation"]["models"].items():
        if name in paths:
            taken = "training.base_model" if name == BASE else f"the model fine-tuned on subset '{name}'"
            raise ConfigError(f"config key 'evaluation.models': the name '{name}' is taken by {taken} "
                              f"({paths[name]}); choose another name")
        paths[name] = model
    return paths


def _check_ablation(evaluation: Mapping[str, Any], scaling: tuple[str, ...]) -> None:
    grid_caps = list(evaluation["caps"])
    grid_waits = list(evaluation["waits"])
    wait_caps = list(evaluation["wait_caps"])
    if set(wait_caps) - set(grid_caps):
        raise ConfigError(f"config key 'evaluation.wait_caps': {[c for c in wait_caps if c not in grid_caps]} not "
                          f"among evaluation.caps {grid_caps}")
    ablation = evaluation["ablation"]
    waits_there = grid_waits if not wait_caps or ablation["cap"] in wait_caps else [0]
    if scaling and (ablation["cap"] not in grid_caps or ablation["waits"] not in waits_there):
        raise ConfigError(f"config key 'evaluation.ablation': cap {ablation['cap']!r} with {ablation['waits']} "
                          f"Waits is not a setting of the scaling models' grid (evaluation.caps {grid_caps} x "
                          f"evaluation.waits {grid_waits}, Waits at {wait_caps or 'every cap'}), at which every "
                          f"model is compared")


def _conditional_specs(config: Mapping[str, Any], name: str, control: str | None,
                       class_models: tuple[str, ...]) -> tuple[ConditionalSpec, ...]:
    """A model's conditional settings: its budgets alone and with budget forcing for a length-controlled
    model, the two class prompts for a class model."""
    conditional = config["conditional"]
    limit = conditional["limit"]
    out: list[ConditionalSpec] = []
    if control:
        budgets = conditional["token_budgets"] if control == "tokens" else conditional["step_budgets"]
        per = 1 if control == "tokens" else conditional["chunk_tokens"]
        for n in budgets:
            out.append(ConditionalSpec(control, n, limit, forced=False))
            # s1's step-conditional forcing: cap auto, thinking ends at the "0 steps left" marker
            cap = "auto" if control == "steps" and config["generation"]["compat"] == "s1" else n * per
            out.append(ConditionalSpec(control, n, cap, forced=True))
    if name in class_models:
        out += [ConditionalSpec("class", c, limit, forced=False) for c in ("long", "short")]
    return tuple(out)


def run_plan(config: Mapping[str, Any]) -> RunPlan:
    """The plan of a config (validated and filled with the schema's defaults first)."""
    config = validated(config)
    sources, eval_sets = _sources_and_eval_sets(config)
    difficulty = [m if isinstance(m, dict) else {"alias": m} for m in config["difficulty"]["models"]]
    aliases = tuple(m["alias"] for m in difficulty)
    if len(set(aliases)) != len(aliases):
        raise ConfigError("config key 'difficulty.models': aliases must be unique")
    answering = {m["alias"]: MappingProxyType(dict(m)) for m in difficulty if "model" in m}

    training, evaluation, conditional = config["training"], config["evaluation"], config["conditional"]
    subsets = _unique(config["selection"]["subsets"])
    trained_subsets = tuple(s for s in (training.get("subsets") or subsets) if s in subsets) \
        if training["enabled"] else ()
    controls = {CONTROL_MODEL_NAMES[k]: k for k in conditional["models"]} if training["enabled"] else {}
    eval_paths = _eval_models(config, trained_subsets + tuple(controls))

    def check(key: str, names: tuple[str, ...]) -> tuple[str, ...]:
        _check_evaluated(key, names, eval_paths, training, subsets)
        return names

    scaling = check("evaluation.scaling_models", _unique(evaluation["scaling_models"]))
    parallel = check("evaluation.parallel_models", _unique(evaluation["parallel_models"]))
    open_ = check("evaluation.open_models", _unique(evaluation["open_models"]))
    if set(open_) & set(scaling):
        raise ConfigError(f"config key 'evaluation.open_models': {sorted(set(open_) & set(scaling))} also in "
                          "evaluation.scaling_models; a budget-forcing curve needs budget forcing")
    class_models = check("conditional.class_models", _unique(conditional["class_models"]))
    if set(open_) & set(class_models):
        raise ConfigError(f"config key 'conditional.class_models': {sorted(set(open_) & set(class_models))} also "
                          "in evaluation.open_models; open models run no class prompts")
    if controls and conditional["subset"] not in trained_subsets:
        raise ConfigError(f"config key 'conditional.subset': '{conditional['subset']}' is not a trained subset "
                          f"({list(trained_subsets)}); the length-controlled models are fine-tuned on its traces")
    _check_ablation(evaluation, scaling)
    ablation_models = tuple(s for s in subsets if s in trained_subsets) + ((BASE,) if training["enabled"] else ())
    if training["enabled"] and config["report"]["reference"] not in ablation_models:
        raise ConfigError(f"config key 'report.reference': '{config['report']['reference']}' is not a row of the "
                          f"ablation table (the trained subsets and '{BASE}': {list(ablation_models)})")
    _check_tokenizer(config["features"]["tokenizer"])
    for i, path in enumerate(config["features"]["labels"]):
        _check_table_file(f"features.labels[{i}]", path)
    for name, model in config["evaluation"]["models"].items():
        if str(model).startswith(("/", ".", "~")) and not os.path.isdir(os.path.expanduser(str(model))):
            raise ConfigError(f"config key 'evaluation.models.{name}': {model!r} is not a model directory "
                              "(a local path must exist; a hub id has the form owner/name)")
    _check_models_and_batches(config)
    _check_features(config, bool(answering), bool(eval_paths))
    selection_settings(config["selection"], config["seed"])

    sweeps = {}
    for name in eval_paths:
        role = ("control" if name in controls else "scaling" if name in scaling
                else "open" if name in open_ else "ablation")
        sweeps[name] = ModelSweep.from_evaluation(
            evaluation, role=role, parallel=name in parallel,
            conditional=_conditional_specs(config, name, controls.get(name), class_models))
    trained = set(trained_subsets) | set(controls)
    train_seeds = tuple(training["seeds"]) or (int(config["seed"]),)
    replicates: dict[str, tuple[str, int]] = {}
    for model in trained_subsets + tuple(controls):
        for k, train_seed in enumerate(train_seeds):
            name = model if k == 0 else replicate_name(model, train_seed)
            if name in eval_paths and k:
                raise ConfigError(f"config key 'training.seeds': the replicate name '{name}' is taken by an "
                                  "evaluated model; rename that model")
            replicates[name] = (model, int(train_seed))
    return RunPlan(
        config=MappingProxyType(config), sources=sources, eval_sets=eval_sets, subsets=subsets,
        trained_subsets=trained_subsets, control_models=MappingProxyType(controls),
        eval_models=tuple(EvalModel(n, p, n in trained) for n, p in eval_paths.items()),
        scaling_models=scaling, parallel_models=parallel, open_models=open_, class_models=class_models,
        ablation_models=ablation_models, answering_models=MappingProxyType(answering), difficulty_aliases=aliases,
        sweeps=MappingProxyType(sweeps), train_seeds=train_seeds, replicates=MappingProxyType(replicates))


def load_plan(path: str | os.PathLike) -> RunPlan:
    """The plan of a config file; errors name the file and the key."""
    try:
        return run_plan(read_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
