"""The run plan (s1flow.config): defaults from the schema, every cross-field check, each model's sweep.

Expectations are written out by hand from config/config.yaml and the rules in config/README.md."""

import copy

import pytest
import yaml
from conftest import REPO

from s1flow.config import load_config, load_plan, run_plan, validated
from s1flow.config.loading import schema, schema_default
from s1flow.errors import ConfigError, InputFileError
from s1flow.generate.setting import Rejection, Vote

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def with_changes(**sections):
    """The default config with some sections' keys replaced."""
    cfg = copy.deepcopy(DEFAULT)
    for section, keys in sections.items():
        if isinstance(keys, dict) and isinstance(cfg.get(section), dict):
            cfg[section].update(keys)
        else:
            cfg[section] = keys
    return cfg


def setting_names(plan, model):
    return [s.name for s in plan.sweep(model).sweep_plan(seed=0).settings]


def test_defaults_are_filled_from_the_schema_without_touching_the_input():
    raw = {"evaluation": {"caps": [8]}}
    cfg = validated(raw)
    assert raw == {"evaluation": {"caps": [8]}}
    assert cfg["evaluation"]["caps"] == [8] and cfg["evaluation"]["waits"] == [0]
    assert cfg["selection"]["uniform_fraction"] == 0.7 and cfg["selection"]["size"] == 1000
    assert cfg["generation"]["think_start"] == "<|im_start|>think" and cfg["seed"] == 42
    assert schema_default("selection.benchmark.long_min_tokens") == 5600


def test_default_config_plan():
    plan = load_plan(REPO / "config" / "config.yaml")
    assert plan.subsets == ("s1k", "random", "diverse", "longest", "full")
    assert plan.trained_models == ("s1k", "random", "diverse", "longest", "full", "tokencond", "stepcond")
    assert plan.control_models == {"tokencond": "tokens", "stepcond": "steps"}
    assert plan.eval_model_paths["base"] == "results/models/base"
    assert plan.eval_model_paths["s1k"] == "results/models/sft/s1k"
    assert plan.swept_eval_sets == ("synth_steps", "synth_mc")
    assert plan.pool_eval_sets == ("synth_steps", "synth_mixed", "synth_mc")
    assert plan.ablation_models == ("s1k", "random", "diverse", "longest", "full", "base")
    assert plan.ablation_tables()[:2] == [("s1k", "synth_steps"), ("s1k", "synth_mc")]
    assert plan.sampling_tables() == [("base", "synth_steps"), ("base", "synth_mc")]
    assert len(plan.compute_tables()) == len(plan.eval_models) * 2 and ("base", "synth_mc") in plan.compute_tables()


def test_training_seeds_make_replicates_of_every_fine_tuned_model():
    plan = run_plan(with_changes(training={"seeds": [7, 3, 11]}))
    assert plan.train_seeds == (7, 3, 11)
    # the first seed keeps the model's name and path; the others are <model>-seed<N>
    assert plan.replicate("s1k") == ("s1k", 7) and plan.replicate("s1k-seed11") == ("s1k", 11)
    assert plan.replicate("base") == ("base", None)
    assert len(plan.trained_replicates) == 7 * 3
    assert plan.eval_model_paths["tokencond-seed3"] == "results/models/sft/tokencond-seed3"
    assert plan.sweep("random-seed3") == plan.sweep("random")
    assert plan.with_replicates([("s1k", "synth_mc"), ("base", "synth_mc")]) == [
        ("s1k", "s1k", "synth_mc", 7), ("s1k-seed3", "s1k", "synth_mc", 3), ("s1k-seed11", "s1k", "synth_mc", 11),
        ("base", "base", "synth_mc", None)]
    # no seeds: one model per subset, trained with the top-level seed
    plan = run_plan(with_changes(seed=5))
    assert plan.train_seeds == (5,) and plan.replicate("full") == ("full", 5)
    assert plan.trained_replicates == plan.trained_models


def test_training_seeds_are_checked():
    with pytest.raises(ConfigError, match=r"training\.seeds.*unique|training\.seeds.*duplicate|seeds"):
        run_plan(with_changes(training={"seeds": [1, 1]}))
    with pytest.raises(ConfigError, match=r"training\.seeds\[0\]"):
        run_plan(with_changes(training={"seeds": [-1]}))
    taken = with_changes(training={"seeds": [1, 2]}, evaluation={"models": {"s1k-seed2": "org/other"}})
    with pytest.raises(ConfigError, match="replicate name 's1k-seed2' is taken"):
        run_plan(taken)


def test_each_models_sweep_in_the_default_config():
    plan = load_plan(REPO / "config" / "config.yaml")
    # s1k: caps 32..256 x waits 0/1, rejection sampling at 128, the class prompts at the limit
    grid = [f"cap={c}" + (f",wait={w}" if w else "") for c in (32, 64, 128, 256) for w in (0, 1)]
    assert setting_names(plan, "s1k") == [*grid, "class=long", "class=short"]
    assert [r.name for r in plan.sweep("s1k").sweep_plan(seed=0).rejections] == ["rs:cap=128"]
    # random: the ablation setting alone
    assert setting_names(plan, "random") == ["cap=256"]
    # base: its own response at the ablation cap, and the majority vote of 8 at cap 64
    base = plan.sweep("base").sweep_plan(seed=0)
    assert [s.name for s in base.settings] == ["open:cap=256"] and base.vote == Vote(samples=8, cap=64, open=True)
    assert base.open and base.vote_sampling.temperature == 1.0
    # the length-controlled models: each budget alone (limit 128), then forced at budget x unit
    assert setting_names(plan, "tokencond") == ["tok=32", "tok=32,cap=32", "tok=128", "tok=128,cap=128"]
    assert setting_names(plan, "stepcond") == ["steps=2", "steps=2,cap=32", "steps=8", "steps=8,cap=128"]
    s1 = run_plan(with_changes(generation={"compat": "s1"}))
    assert setting_names(s1, "stepcond") == ["steps=2", "steps=2,cap=auto", "steps=8", "steps=8,cap=auto"]
    with pytest.raises(ConfigError, match="'nobody' is not an evaluated model"):
        plan.sweep("nobody")


def test_training_disabled_evaluates_only_the_named_models():
    plan = run_plan(with_changes(training={"enabled": False}, conditional={"class_models": []},
                                 evaluation={"models": {"qwen": "Qwen/Qwen2.5-0.5B-Instruct"}, "scaling_models": [],
                                             "parallel_models": [], "open_models": []}))
    assert plan.trained_models == () and plan.eval_model_paths == {"qwen": "Qwen/Qwen2.5-0.5B-Instruct"}
    assert setting_names(plan, "qwen") == ["cap=256"]


@pytest.mark.parametrize("changes,match", [
    ({"sources": [{"name": "a", "kind": "synthetic"}, {"name": "a", "kind": "synthetic"}]},
     "config key 'sources': source names must be unique"),
    ({"eval_sets": [{"name": "synth_other", "kind": "synthetic"}]},
     "synthetic eval set 'synth_other' must be one of"),
    ({"evaluation": {"open_models": ["s1k"]}}, "config key 'evaluation.open_models': \\['s1k'\\] also in"),
    ({"evaluation": {"scaling_models": ["nobody"]}}, "config key 'evaluation.scaling_models': 'nobody' is not"),
    ({"evaluation": {"models": {"base": "x"}}}, "the name 'base' is taken by training.base_model"),
    ({"evaluation": {"wait_caps": [512]}}, "config key 'evaluation.wait_caps': \\[512\\] not among"),
    ({"evaluation": {"ablation": {"cap": 100, "waits": 0}}}, "config key 'evaluation.ablation': cap 100"),
    ({"report": {"reference": "nobody"}}, "config key 'report.reference': 'nobody' is not a row"),
    ({"conditional": {"subset": "random"}, "training": {"subsets": ["s1k"]}},
     "config key 'conditional.subset': 'random' is not a trained subset"),
    ({"conditional": {"class_models": ["base"]}}, "config key 'conditional.class_models': \\['base'\\] also"),
    ({"features": {"teacher": "api"}}, "config key 'features.teacher_api': teacher 'api' needs"),
    ({"evaluation": {"grader": "judge"}}, "config key 'judge': grading or classifying by 'judge' needs"),
    ({"difficulty": {"models": ["a", "a"]}}, "config key 'difficulty.models': aliases must be unique"),
    ({"evaluation": {"caps": "256"}}, "config key 'evaluation.caps': expected array, got '256'"),
    ({"selection": {"uniform_fraction": 1.5}}, "config key 'selection.uniform_fraction': expected <= 1"),
    # errors that used to pass the dry run and surface only when a job ran
    ({"sources": [{"name": "mine", "kind": "file"}]}, "config key 'sources\\[mine\\]': kind 'file' needs 'path'"),
    ({"sources": [{"name": "mine", "kind": "file", "path": ""}]}, "kind 'file' needs 'path'"),
    ({"sources": [{"name": "mine", "kind": "hub"}]}, "config key 'sources\\[mine\\]': kind 'hub' needs 'preset'"),
    ({"sources": [{"name": "mine", "kind": "file", "path": "x.jsonl", "preset": "numina"}]},
     "config key 'sources\\[mine\\]': unknown preset 'numina'; known: \\['agieval'"),
    ({"eval_sets": [{"name": "aime", "kind": "hub"}]}, "config key 'eval_sets\\[aime\\]': kind 'hub' needs 'dataset'"),
    ({"eval_sets": [{"name": "mine", "kind": "file"}]}, "config key 'eval_sets\\[mine\\]': kind 'file' needs 'path'"),
    ({"features": {"tokenizer": {"kind": "path", "path": "no/such/dir"}}},
     "config key 'features.tokenizer.path': 'no/such/dir' is not a directory"),
    ({"features": {"tokenizer": {"kind": "path"}}}, "config key 'features.tokenizer.path': kind 'path' needs"),
    ({"features": {"tokenizer": {"kind": "vocab_merges", "vocab": "v.json", "merges": "m.txt"}}},
     "config key 'features.tokenizer.vocab': kind 'vocab_merges' needs the file"),
    ({"evaluation": {"caps": []}}, "config key 'evaluation.caps': expected at least 1 item"),
    ({"evaluation": {"waits": []}}, "config key 'evaluation.waits': expected at least 1 item"),
    ({"selection": {"size": 0}}, "config key 'selection.size': expected >= 1, got 0"),
    ({"selection": {"benchmark": {"aime": "[AIME"}}},
     "selection.benchmark.aime \\(--aime\\): '\\[AIME' is not a valid regular expression"),
    ({"seed": -1}, "config key 'seed': expected >= 0, got -1"),
    ({"training": {"learning_rate": float("nan")}}, "config key 'training.learning_rate': expected a finite number"),
    ({"training": {"gpu_memory_gib": float("inf")}}, "config key 'training.gpu_memory_gib': expected a finite"),
    ({"synthetic": {"pool_size": 10**30}}, "config key 'synthetic.pool_size': expected an integer below 2\\*\\*63"),
    ({"evaluation": {"caps": [64, 64]}}, "config key 'evaluation.caps': expected distinct items"),
    ({"sources": [{"name": "mine", "kind": "file", "path": "no/such/file.jsonl"}]},
     "config key 'sources\\[mine\\].path': 'no/such/file.jsonl' not found"),
    ({"sources": [{"name": "mine", "kind": "file", "path": str(REPO / "config")}]},
     "config key 'sources\\[mine\\].path': '.*config' is a directory"),
    ({"sources": [{"name": "mine", "kind": "file", "path": str(REPO / "README.md")}]},
     "config key 'sources\\[mine\\].path': .*README.md: cannot tell the table format from suffix '.md'"),
    ({"sources": [{"name": "mine", "kind": "synthetic", "preset": "openaimath"}]},
     "config key 'sources\\[mine\\]': kind 'synthetic' takes no preset"),
    ({"eval_sets": [{"name": "mine", "kind": "file", "path": "nowhere.jsonl"}]},
     "config key 'eval_sets\\[mine\\].path': 'nowhere.jsonl' not found"),
    ({"features": {"labels": ["missing-labels.parquet"]}},
     "config key 'features.labels\\[0\\]': 'missing-labels.parquet' not found"),
    ({"evaluation": {"models": {"mine": "/nonexistent/model"}}},
     "config key 'evaluation.models.mine': '/nonexistent/model' is not a model directory"),
    ({"training": {"global_batch_size": 2, "micro_batch_size": 8}},
     "config key 'training.global_batch_size': training.global_batch_size 2 is not a multiple of micro_batch_size"),
    ({"difficulty": {"models": ["qwen7b"]}}, "config key 'difficulty.models': 'qwen7b' has no model"),
    ({"models": {"base": {"hidden_size": 100, "num_heads": 2}}},
     "config key 'models.base': head_dim = hidden_size / num_heads must be 64"),
])
def test_cross_field_errors_name_the_key(changes, match):
    with pytest.raises(ConfigError, match=match):
        run_plan(with_changes(**changes))


def test_schema_uses_only_json_schema_keywords():
    """A description with an unquoted ', ' inside a YAML flow mapping becomes a stray key; none is left."""
    keywords = {"type", "properties", "items", "default", "description", "minimum", "maximum", "enum", "oneOf",
                "required", "additionalProperties", "minItems", "uniqueItems", "$ref", "definitions", "pattern",
                "exclusiveMinimum", "$schema", "title", "anyOf", "maxItems", "minLength", "propertyNames"}
    stray = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if path and path[-1] in ("properties", "definitions"):
                    walk(value, [*path, key])
                    continue
                if key not in keywords and "default" not in path:
                    stray.append("/".join([*path, key]))
                walk(value, [*path, key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, [*path, str(i)])

    walk(schema(), [])
    assert stray == []


def test_unknown_key_is_one_short_message():
    with pytest.raises(ConfigError) as info:
        run_plan(with_changes(features={"tokeniser": {}}))
    message = str(info.value)
    assert "config key 'features': unknown key(s) ['tokeniser']" in message and "config/README.md" in message
    assert "'tokenizer'" in message and len(message) < 600 and "\n" not in message
    with pytest.raises(ConfigError, match="config key top level: unknown key\\(s\\) \\['evalution'\\]"):
        run_plan({**DEFAULT, "evalution": {}})


def test_config_files_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluation:\n  caps: [0]\n")
    with pytest.raises(ConfigError, match="bad.yaml: config key 'evaluation.caps\\[0\\]'"):
        load_config(bad)
    with pytest.raises(InputFileError, match="not found"):
        load_plan(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(InputFileError, match="YAML mapping"):
        load_config(tmp_path / "list.yaml")


@pytest.mark.parametrize("name", ["config/paper/s1-32b.yaml", "config/paper/s1.1-32b.yaml"])
def test_paper_configs_plan_on_their_own(name):
    """A --configfile is read alone (config/config.yaml only when none is given): what a paper config leaves
    out takes the schema's default, never the nano default's value."""
    plan = load_plan(REPO / name)
    # not the nano default's 64 questions, its tiny models or its training cadence
    assert plan.config["conditional"]["size"] == 0 and plan.config["models"] == {}
    assert plan.config["training"]["save_steps"] == 50 and plan.config["training"]["group_by_length"] is False
    # s1's sweep (S1_REFERENCE section 9): caps 500..16000 and auto, 1/2/4/6 Waits on cap auto only
    caps = ["cap=500", "cap=1000", "cap=2000", "cap=4000", "cap=8000", "cap=16000", "cap=auto"]
    assert setting_names(plan, "s1k")[:11] == [*caps, "cap=auto,wait=1", "cap=auto,wait=2", "cap=auto,wait=4",
                                               "cap=auto,wait=6"]
    assert plan.sweep("s1k").sweep_plan(seed=0).rejections == [Rejection(cap=4000), Rejection(cap=8000)]
    assert setting_names(plan, "random") == ["cap=auto"]
