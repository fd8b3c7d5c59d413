"""Integration tests: snakemake runs on small configs in a temporary directory."""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

pytestmark = pytest.mark.integration

SUBSET_NAMES = ["s1k", "random", "diverse", "longest", "full"]


E2E_CONFIG = REPO / "tests" / "configs" / "e2e.yaml"
EVAL_SET_NAMES = ["synth_steps", "synth_mixed", "synth_mc"]


def e2e_config() -> dict:
    """tests/configs/e2e.yaml: the default config's DAG, small, with every value written out."""
    return yaml.safe_load(E2E_CONFIG.read_text())


def tiny_config(**overrides):
    cfg = e2e_config()
    cfg.update(overrides)
    return cfg


def snakemake(workdir: Path, cfg: dict, *extra: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def pending_outputs(workdir: Path, cfg: dict) -> dict[str, set[str]]:
    """What a run would make now, from Snakemake's machine-readable summary: rule -> output files."""
    r = snakemake(workdir, cfg, "--summary")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line.split("\t") for line in r.stdout.splitlines() if line.strip()]
    header = rows[0]
    assert header[0] == "output_file" and header[-1] == "plan", header
    col = {name: k for k, name in enumerate(header)}
    pending: dict[str, set[str]] = {}
    for row in rows[1:]:
        if row[col["plan"]] != "no update":
            pending.setdefault(row[col["rule"]], set()).add(row[col["output_file"]])
    return pending


@dataclass
class Run:
    work: Path
    cfg: dict
    seconds: float

    @property
    def results(self) -> Path:
        return self.work / "results"


@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> Run:
    """tests/configs/e2e.yaml run once: the default DAG from synthetic data to the report."""
    work = tmp_path_factory.mktemp("e2e")
    cfg = e2e_config()
    start = time.monotonic()
    r = snakemake(work, cfg)
    seconds = time.monotonic() - start
    assert r.returncode == 0, r.stderr[-3000:]
    print(f"\ne2e run: {seconds:.0f} s")
    return Run(work, cfg, seconds)


def test_e2e_builds_pool_features_subsets_and_models(e2e):
    res = e2e.results
    report = json.loads((res / "pool" / "decontamination.json").read_text())
    assert report["totals"]["eval_overlap"] > 0 and report["totals"]["exact_duplicate"] > 0
    features = pd.read_parquet(res / "features" / "features.parquet")
    assert features["trace_tokens"].notna().all() and (features["trace_tokens"] > 0).all()
    assert not features["quality_ok"].all()
    funnel = json.loads((res / "subsets" / "funnel.json").read_text())
    # the tiny base model answered every question; its grades drive the difficulty step
    assert features["correct_base"].notna().any()
    assert funnel["steps"][3]["step"] == "difficulty" and not funnel["steps"][3].get("skipped")
    assert funnel["seed"] == 42
    for name in SUBSET_NAMES:
        sub = pd.read_parquet(res / "subsets" / f"{name}.parquet")
        assert funnel["subsets"][name]["count"] == len(sub)
        assert list(sub.columns) == list(features.columns)
    s1k = pd.read_parquet(res / "subsets" / "s1k.parquet")
    assert len(s1k) == 60 and s1k["quality_ok"].all()
    for log in ("synthetic/synthesize.log", "pool/build_pool.log", "features/features.log", "subsets/s1k.log",
                "report/ablation.log", "report/methods.log", "report/scaling.log", "report/sampling.log",
                "report/compute.log"):
        assert (e2e.work / "logs" / log).is_file()

    # one fine-tuned model per subset: ZeRO-3 over 2 CPU processes, loadable, with its tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in SUBSET_NAMES:
        model_dir = res / "models" / "sft" / name
        metrics = json.loads((model_dir / "train_metrics.json").read_text())
        assert metrics["world_size"] == 2 and metrics["deepspeed"] and metrics["zero_stage"] == 3
        sft_report = json.loads((res / "sft" / f"{name}.json").read_text())
        assert sft_report["examples"] == funnel["subsets"][name]["count"]
    AutoModelForCausalLM.from_pretrained(res / "models" / "sft" / "s1k")
    AutoTokenizer.from_pretrained(res / "models" / "sft" / "s1k")
    # the length-controlled models: s1k's questions, with the budget sentence and countdown markers
    for name, unit in (("tokencond", "tokens"), ("stepcond", "steps")):
        sft = pd.read_parquet(res / "sft" / f"{name}.parquet")
        report = json.loads((res / "sft" / f"{name}.json").read_text())
        assert len(sft) == len(s1k) and report["control"] == unit and report["chunk_tokens"] == 8
        assert sft["text"].str.contains(f"Think for up to \\d+ {unit}\\.<\\|im_end\\|>").all()
        assert sft["text"].str.contains("<|im_start|>think\n<|im_start|>", regex=False).all()
        metrics = json.loads((res / "models" / "sft" / name / "train_metrics.json").read_text())
        assert metrics["world_size"] == 2 and metrics["zero_stage"] == 3


def test_e2e_subsets_are_byte_identical_in_another_directory(e2e, tmp_path):
    cfg = e2e_config()
    cfg["training"]["enabled"] = False
    cfg["evaluation"].update(scaling_models=[], parallel_models=[], open_models=[])
    cfg["conditional"]["class_models"] = []
    r = snakemake(tmp_path / "b", cfg)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (tmp_path / "b" / "results" / "eval").exists()
    for name in SUBSET_NAMES:
        a = (e2e.results / "subsets" / f"{name}.parquet").read_bytes()
        b = (tmp_path / "b" / "results" / "subsets" / f"{name}.parquet").read_bytes()
        assert a == b, name


def test_e2e_sweeps_run_each_models_settings(e2e):
    """s1k: caps x waits plus rejection sampling; base: its own response at the ablation cap plus the
    majority vote; the other subsets: the ablation setting alone."""
    grid = {"cap=16", "cap=16,wait=1", "cap=auto", "cap=auto,wait=1"}
    expected = {"s1k": grid | {"rs:cap=16", "class=long", "class=short"}, "base": {"open:cap=auto", "maj@4"},
                **{name: {"cap=auto"} for name in SUBSET_NAMES if name != "s1k"},
                "tokencond": {"tok=16", "tok=16,cap=16"}, "stepcond": {"steps=2", "steps=2,cap=16"}}
    for model, settings in expected.items():
        for evalset in EVAL_SET_NAMES:
            samples = pd.read_parquet(e2e.results / "eval" / model / evalset / "samples.parquet")
            assert set(samples["setting"]) == settings, (model, evalset)
            assert samples["qid"].nunique() == 10
            maj = samples[samples["setting"] == "maj@4"]
            assert len(maj) == 4 * 10 * (model == "base") and (maj["budget"] == 16).all()


def test_e2e_report_files_parse(e2e):
    from s1flow.report.ablation import ABLATION_COLUMNS
    from s1flow.report.methods import METHOD_COLUMNS

    rep = e2e.results / "report"
    ablation = pd.read_csv(rep / "ablation.csv")
    assert list(ablation.columns) == ABLATION_COLUMNS
    assert list(dict.fromkeys(ablation["model"])) == SUBSET_NAMES + ["base"]
    assert list(dict.fromkeys(ablation["evalset"])) == EVAL_SET_NAMES
    assert set(ablation.loc[ablation["model"] != "base", "setting"]) == {"cap=auto"}
    assert set(ablation.loc[ablation["model"] == "base", "setting"]) == {"open:cap=auto"}
    assert set(ablation["reference"]) == {"s1k"}
    assert set(ablation["n_resamples"]) == {10_000} and set(ablation["seed"]) == {42}
    methods = pd.read_csv(rep / "methods.csv")
    assert list(methods.columns) == METHOD_COLUMNS
    for name in ("ablation.md", "methods.md"):
        text = (rep / name).read_text()
        assert text.strip() and all(e in text for e in EVAL_SET_NAMES), name
    assert "\\begin{tabular}" in (rep / "ablation.tex").read_text()
    assert (rep / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (rep / "scaling.pdf").read_bytes()[:4] == b"%PDF"
    # cov@n / maj@n of the base's majority vote (4 samples: n = 2, 4), recomputable from its samples
    from s1flow.report.sampling import SAMPLING_COLUMNS, coverage_majority

    sampling = pd.read_csv(rep / "sampling.csv")
    assert set(sampling["model"]) == {"base"} and set(sampling["setting"]) == {"maj@4"}
    assert list(sampling.columns) == SAMPLING_COLUMNS
    assert sorted(set(sampling["n"])) == [1, 2, 4] and set(sampling["replicates"]) == {1}
    for evalset, g in sampling.groupby("evalset"):
        samples = pd.read_parquet(e2e.results / "eval" / "base" / evalset / "samples.parquet")
        again = coverage_majority(samples)
        s1 = g[g["n"] > 1]  # s1 reports n = 2, 4; n = 1 holds pass@1 alone
        assert again["cov"].tolist() == pytest.approx(s1["cov"].tolist())
        assert again["maj"].tolist() == pytest.approx(s1["maj"].tolist())
        assert g["pass"].iloc[0] == pytest.approx(g["avg"].iloc[0])  # pass@1 = avg@N
        assert (g["pass_low"] <= g["pass"] + 1e-9).all() and (g["pass"] <= g["pass_high"] + 1e-9).all()
    # token accounting of every swept model's settings; the base's vote against s1k's budget forcing
    from s1flow.report.compute import MATCHED_COLUMNS, TOKEN_COLUMNS

    compute = pd.read_csv(rep / "compute.csv")
    assert list(compute.columns) == TOKEN_COLUMNS
    assert set(SUBSET_NAMES) | {"base", "tokencond", "stepcond"} <= set(compute["model"])
    assert compute["generated_per_sample"].tolist() == pytest.approx(
        (compute["thinking_per_sample"] + compute["answer_per_sample"]).tolist())
    vote = compute[compute["method"] == "majority_vote"]
    assert vote["generated_per_question"].tolist() == pytest.approx((4 * vote["generated_per_sample"]).tolist())
    matched = pd.read_csv(rep / "matched.csv")
    assert list(matched.columns) == MATCHED_COLUMNS and set(matched["parallel_model"]) == {"base"}
    assert "s1k" in set(matched["sequential_model"])


def test_e2e_ablation_accuracies_match_the_samples(e2e):
    ablation = pd.read_csv(e2e.results / "report" / "ablation.csv")
    assert len(ablation) == 6 * 3
    for _, row in ablation.iterrows():
        samples = pd.read_parquet(e2e.results / "eval" / row["model"] / row["evalset"] / "samples.parquet")
        at = samples[samples["setting"] == row["setting"]]
        assert at["sample"].eq(0).all() and at["qid"].is_unique  # greedy: one sample per question
        assert row["n_questions"] == len(at) == 10
        assert row["accuracy"] == pytest.approx(at["correct"].mean() * 100)
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
        assert row["delta_low"] <= row["delta"] <= row["delta_high"]
        if row["model"] == "s1k":
            assert row["delta"] == row["delta_low"] == row["delta_high"] == 0


def test_e2e_every_report_table_is_recomputed_from_the_samples_alone(e2e):
    from report_tables import assert_same_table, recomputed_report

    tables = recomputed_report(e2e.results, e2e.cfg)
    assert set(tables) == {"ablation.csv", "claims.csv", "methods.csv", "sampling.csv", "compute.csv",
                           "matched.csv"}
    for name, table in tables.items():
        assert_same_table(e2e.results / "report" / name, table)


def test_e2e_methods_table(e2e):
    methods = pd.read_csv(e2e.results / "report" / "methods.csv")
    for evalset in EVAL_SET_NAMES:
        rows = methods[methods["evalset"] == evalset]
        by = {(r["method"], r["model"]): r for _, r in rows.iterrows()}
        # the seven rows of the paper's Table 3, and the parallel baseline
        assert set(by) == {("budget forcing", "s1k"), ("token-conditional", "tokencond"),
                           ("token-conditional + budget forcing", "tokencond"), ("step-conditional", "stepcond"),
                           ("step-conditional + budget forcing", "stepcond"), ("class-conditional", "s1k"),
                           ("rejection sampling", "s1k"), ("majority voting", "base")}
        for (method, _), r in by.items():
            if method == "majority voting":
                assert pd.isna(r["control"]) and r["n_settings"] == 3  # maj@1, maj@2, maj@4
            else:  # class prompts: held to s1k's cap=auto, the limit they ran at
                assert 0 <= r["control"] <= 1
            assert 0 <= r["performance"] <= 100
        assert by[("budget forcing", "s1k")]["n_settings"] == 4
        assert by[("class-conditional", "s1k")]["n_settings"] == 2


def test_e2e_second_run_has_nothing_to_do(e2e):
    r = snakemake(e2e.work, e2e.cfg, "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Nothing to be done" in r.stdout + r.stderr


def test_e2e_html_report(e2e, tmp_path):
    html = tmp_path / "report.html"
    r = snakemake(e2e.work, e2e.cfg, "--report", str(html))
    assert r.returncode == 0, r.stderr[-3000:]
    text = html.read_text()
    assert len(text) > 100_000
    for name in ("ablation.md", "ablation.csv", "ablation.tex", "methods.md", "methods.csv", "scaling.png",
                 "scaling.pdf", "sampling.md", "sampling.csv", "compute.md", "compute.csv", "matched.csv"):
        assert name in text
    # the captions, rendered with the config
    assert "Table 2" in text and "Table 3" in text and "Figures 1 and 4" in text
    assert "10,000 resamples" in text
    # docutils puts each problem of a caption (or of workflow.rst) into the page as a "System Message" box
    assert "System Message" not in text and "system-message" not in text, text[text.find("System Message") - 300:][:900]


def test_e2e_deleting_a_model_reruns_only_its_jobs_and_retraining_is_byte_identical(e2e):
    """Runs last: it removes a trained model from the shared run, then trains and sweeps it again.

    Determinism (training.deterministic, generation.deterministic): the same config on the same
    machine gives the same model and the same samples, byte for byte."""
    model_dir = e2e.results / "models" / "sft" / "random"
    before = {p.name: p.read_bytes() for p in (model_dir / "model.safetensors", model_dir / "config.json")}
    samples = {e: (e2e.results / "eval" / "random" / e / "samples.parquet").read_bytes() for e in EVAL_SET_NAMES}
    shutil.rmtree(model_dir)
    pending = pending_outputs(e2e.work, e2e.cfg)
    # the tables that read random's samples are remade; nothing else
    assert set(pending) == {"train", "sweep", "ablation", "claims", "compute"}, pending
    assert pending["train"] == {"results/models/sft/random/config.json", "results/models/sft/random/model.safetensors"}
    assert pending["sweep"] == {f"results/eval/random/{e}/samples.parquet" for e in EVAL_SET_NAMES}
    # nothing is reused: no checkpoint to resume from, no cached sweep chunk
    shutil.rmtree(e2e.results / "checkpoints" / "random", ignore_errors=True)
    shutil.rmtree(e2e.results / "cache" / "sweeps" / "random")
    r = snakemake(e2e.work, e2e.cfg)
    assert r.returncode == 0, r.stderr[-3000:]
    for name, data in before.items():
        assert (model_dir / name).read_bytes() == data, f"retrained {name} differs"
    for evalset, data in samples.items():
        again = (e2e.results / "eval" / "random" / evalset / "samples.parquet").read_bytes()
        assert again == data, f"the second sweep of random on {evalset} differs"


def test_unknown_config_key_is_rejected(tmp_path):
    cfg = tiny_config()
    cfg["selection"]["sise"] = 10
    r = snakemake(tmp_path, cfg)
    assert r.returncode != 0
    assert "sise" in r.stderr + r.stdout
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("changes, message", [
    ({"sources": [{"name": "mine", "kind": "file"}]}, "config key 'sources[mine]': kind 'file' needs 'path'"),
    ({"sources": [{"name": "mine", "kind": "file", "path": "nowhere.jsonl"}]},
     "config key 'sources[mine].path': 'nowhere.jsonl' not found"),
    ({"training": {"learning_rate": float("nan")}}, "config key 'training.learning_rate': expected a finite number"),
    ({"eval_sets": [{"name": "aime", "kind": "hub"}]}, "config key 'eval_sets[aime]': kind 'hub' needs 'dataset'"),
    ({"features": {"tokenizer": {"kind": "path", "path": "nowhere"}}},
     "config key 'features.tokenizer.path': 'nowhere' is not a directory"),
    ({"evaluation": {"caps": []}}, "config key 'evaluation.caps': expected at least 1 item"),
    ({"featurs": {}}, "config key top level: unknown key(s) ['featurs']; allowed: ['conditional',"),
])
def test_config_errors_stop_the_run_at_start_up_in_one_line(tmp_path, changes, message):
    """Errors that once passed the dry run and failed only in a job: exit 2 at start-up, one line naming the key."""
    cfg = e2e_config()
    for key, value in changes.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and key in cfg else value
    r = snakemake(tmp_path, cfg, "-n")
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("s1flow: config error: ") and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 3
    assert not (tmp_path / "results").exists()


def test_bad_source_file_fails_without_outputs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "what is 2+2?"}\n')
    cfg = tiny_config(sources=[{"name": "mine", "kind": "file", "path": str(bad), "fields": {"question": "problem"}}])
    r = snakemake(tmp_path / "w", cfg)
    assert r.returncode != 0
    log = (tmp_path / "w" / "logs" / "sources" / "mine.log").read_text()
    assert "bad.jsonl" in log and "problem" in log
    assert "Traceback" in log  # the details go to the rule's log; the console gets the one-line message
    assert "Traceback" not in r.stderr and "stage failed: " in r.stderr
    assert not (tmp_path / "w" / "results" / "sources" / "mine.parquet").exists()
    assert not (tmp_path / "w" / "results" / "pool" / "pool.parquet").exists()


def _config_error(tmp_path, cfg):
    r = snakemake(tmp_path, cfg, "-n")
    assert r.returncode != 0
    assert not (tmp_path / "results").exists()
    return r.stdout + r.stderr


def test_ablation_setting_outside_the_grid_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["evaluation"]["ablation"] = {"cap": 64, "waits": 0}
    assert "config key 'evaluation.ablation'" in _config_error(tmp_path, cfg)


def test_an_eval_set_kept_for_decontamination_only_is_not_swept(tmp_path):
    cfg = e2e_config()
    for spec in cfg["eval_sets"]:
        if spec["name"] == "synth_mixed":
            spec["evaluate"] = False
    jobs = dry_run_jobs(tmp_path, cfg)
    (pool,) = jobs_of(jobs, "build_pool")
    assert "results/evalsets/synth_mixed.parquet" in pool["input"]  # the pool is still decontaminated against it
    sweeps = {(j["wildcards"]["evalmodel"], j["wildcards"]["evalset"]) for j in jobs_of(jobs, "sweep")}
    assert ("s1k", "synth_steps") in sweeps and not [s for s in sweeps if s[1] == "synth_mixed"]


def test_an_eval_set_swept_but_not_decontaminated_against_is_no_pool_input(tmp_path):
    cfg = e2e_config()
    for spec in cfg["eval_sets"]:
        if spec["name"] == "synth_steps":
            spec["decontaminate"] = False
    jobs = dry_run_jobs(tmp_path, cfg)
    (pool,) = jobs_of(jobs, "build_pool")
    assert "results/evalsets/synth_mc.parquet" in pool["input"]
    assert "results/evalsets/synth_steps.parquet" not in pool["input"]
    assert not [j for j in jobs_of(jobs, "eval_set") if j["wildcards"]["evalset"] == "synth_steps"]
    sweeps = {(j["wildcards"]["evalmodel"], j["wildcards"]["evalset"]) for j in jobs_of(jobs, "sweep")}
    assert ("s1k", "synth_steps") in sweeps


def test_wait_caps_outside_the_grid_or_the_ablation_setting_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["evaluation"]["wait_caps"] = [1000]
    assert "config key 'evaluation.wait_caps'" in _config_error(tmp_path, cfg)
    # the ablation setting takes Waits at a cap that runs none
    cfg = e2e_config()
    caps = cfg["evaluation"]["caps"]
    cfg["evaluation"].update(waits=[0, 1], wait_caps=[c for c in caps if c != caps[0]],
                             ablation={"cap": caps[0], "waits": 1})
    assert "config key 'evaluation.ablation'" in _config_error(tmp_path, cfg)


@pytest.mark.parametrize("key, value", [
    ("scaling_models", ["s1k", "nope"]),
    ("parallel_models", ["bse"]),
    ("open_models", ["bse"]),
])
def test_unknown_scaling_or_parallel_model_is_a_config_error(tmp_path, key, value):
    cfg = e2e_config()
    cfg["evaluation"][key] = value
    assert f"config key 'evaluation.{key}'" in _config_error(tmp_path, cfg)


def test_untrained_subset_as_scaling_model_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["training"]["subsets"] = ["random"]
    cfg["report"]["reference"] = "random"
    out = _config_error(tmp_path, cfg)
    assert "config key 'evaluation.scaling_models'" in out and "subset 's1k' is not trained" in out
    # without training, nothing is evaluated unless evaluation.models names it
    cfg = e2e_config()
    cfg["training"]["enabled"] = False
    out = _config_error(tmp_path, cfg)
    assert "config key 'evaluation.scaling_models'" in out and "training.enabled" in out


def test_open_scaling_model_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["evaluation"]["open_models"] = ["base", "s1k"]
    out = _config_error(tmp_path, cfg)
    assert "config key 'evaluation.open_models'" in out and "scaling_models" in out


def test_conditional_config_errors(tmp_path):
    cfg = e2e_config()
    cfg["conditional"]["subset"] = "nope"
    assert "config key 'conditional.subset'" in _config_error(tmp_path, cfg)
    cfg = e2e_config()
    cfg["conditional"]["class_models"] = ["bse"]
    assert "config key 'conditional.class_models'" in _config_error(tmp_path, cfg)


def test_evaluated_model_name_clash_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["evaluation"]["models"] = {"s1k": "results/models/base"}
    assert "config key 'evaluation.models'" in _config_error(tmp_path, cfg)


def test_unknown_ablation_reference_is_a_config_error(tmp_path):
    cfg = e2e_config()
    cfg["report"]["reference"] = "nope"
    assert "config key 'report.reference'" in _config_error(tmp_path, cfg)


@pytest.mark.realdata
def test_teacher_traces_from_a_trace_dataset(tmp_path):
    """features.teacher: dataset - traces of an s1-shaped trace file join the pool by qhash."""
    work = tmp_path / "w"
    cfg = tiny_config()
    r = snakemake(work, cfg, "results/synthetic/questions.parquet")
    assert r.returncode == 0, r.stderr[-3000:]
    from s1flow.curate.pool import question_hash

    questions = pd.read_parquet(work / "results" / "synthetic" / "questions.parquet")
    teacher = pd.read_parquet(work / "results" / "synthetic" / "teacher.parquet").set_index("qhash")
    half = questions.iloc[: len(questions) // 2].copy()
    half["qhash"] = half["question"].map(question_hash)
    half = half[half["qhash"].isin(teacher.index)]
    traces = pd.DataFrame({"question": half["question"],
                           "thinking_trajectories": [[t] for t in teacher.loc[half["qhash"], "trace"]],
                           "attempt": teacher.loc[half["qhash"], "attempt"].tolist()})
    traces.to_parquet(tmp_path / "traces.parquet")
    cfg["features"].update(teacher="dataset",
                           teacher_dataset={"preset": "s1_59k", "path": str(tmp_path / "traces.parquet")})
    r = snakemake(work, cfg, "results/features/features.parquet")
    assert r.returncode == 0, r.stderr[-3000:]
    labels = pd.read_parquet(work / "results" / "labels" / "teacher_dataset.parquet")  # the rule ran
    assert set(labels["qhash"]) == set(half["qhash"])
    features = pd.read_parquet(work / "results" / "features" / "features.parquet")
    has_trace = set(features.loc[features["trace_tokens"].notna(), "qhash"])
    assert has_trace and has_trace == set(features["qhash"]) & set(half["qhash"])


def test_realdata_config(tmp_path, shared_data):
    text = (REPO / "tests" / "configs" / "realdata.yaml").read_text().replace("../shared/data", str(shared_data))
    cfg = yaml.safe_load(text)
    r = snakemake(tmp_path, cfg)
    assert r.returncode == 0, r.stderr[-3000:]
    res = tmp_path / "results"
    report = json.loads((res / "pool" / "decontamination.json").read_text())
    pool = pd.read_parquet(res / "pool" / "pool.parquet")
    math500 = set(pd.read_json(shared_data / "eval" / "math500_test.jsonl", lines=True)["problem"])
    assert not (set(pool["question"]) & math500)
    raw = pd.read_csv(shared_data / "pool" / "math_test_5000.csv")
    removed = set(report["sources"]["math_test"]["removed"]["eval_overlap"])
    from s1flow.curate.pool import question_hash

    in_math500 = {question_hash(q) for q in raw["Question"] if q in math500}
    assert len(in_math500) == 500 and in_math500 <= removed
    features = pd.read_parquet(res / "features" / "features.parquet")
    row = features.dropna(subset=["trace_tokens"]).iloc[0]
    from s1flow.curate.tokenizer import load_tokenizer

    tok = load_tokenizer(shared_data / "tokenizer" / "qwen2")
    assert row["trace_tokens"] == len(tok.encode(row["solution"], add_special_tokens=False).ids)
    funnel = json.loads((res / "subsets" / "funnel.json").read_text())
    assert funnel["subsets"]["s1k"]["count"] == 1000
    assert "teacher_correct" in funnel["steps"][1]["unavailable"]


def test_model_labels_and_sweeps_through_real_endpoints(tmp_path, monkeypatch):
    """Teacher traces, teacher grades, domains (judge over an MSC-style rubric) and difficulty
    grades come from a real HTTP server on 127.0.0.1; the tiny base model answers the pool and
    is swept on an eval set. The API key never reaches logs or results."""
    from openai_server import serve

    key = "sk-test-0123456789abcdef"
    monkeypatch.setenv("S1FLOW_TEST_KEY", key)
    rubric = tmp_path / "rubric.json"
    rubric.write_text(json.dumps([
        {"code": c, "title": t, "descriptions": [t], "prompt": f"{c} {t}: questions about {t.lower()}."}
        for c, t in (("05", "Combinatorics"), ("11", "Number theory"), ("51", "Geometry"),
                     ("60", "Probability theory"), ("70", "Mechanics"), ("97", "Mathematics education"))]))
    with serve(expected_key=key) as server:
        endpoint = {"base_url": server.url, "model": "judge", "api_key_env": "S1FLOW_TEST_KEY", "concurrency": 4,
                    "max_retries": 3}
        cfg = tiny_config()
        cfg["training"]["enabled"] = False
        cfg["conditional"]["class_models"] = []
        cfg["synthetic"]["pool_size"] = 150
        cfg["selection"]["size"] = 30
        cfg["features"].update(teacher="api", teacher_api={**endpoint, "model": "teacher"}, teacher_grading="judge",
                               domain="judge", msc_rubric=str(rubric))
        cfg["difficulty"] = {"models": [{"alias": "base", "model": "results/models/base", "max_tokens": 8}],
                             "grader": "judge"}
        cfg["judge"] = endpoint
        cfg["eval_sets"] = [{"name": "synth_arith", "kind": "synthetic"}]
        cfg["evaluation"] = {"models": {"base": "results/models/base"}, "scaling_models": ["base"],
                             "parallel_models": [], "ablation": {"cap": 8, "waits": 0}, "caps": [8, 16],
                             "waits": [0, 1], "grader": "judge"}
        cfg["generation"]["answer_max_tokens"] = 8
        server.fail("429", times=2, retry_after="0")
        server.fail("500", times=1)
        r = snakemake(tmp_path / "w", cfg)
        assert r.returncode == 0, r.stderr[-3000:]
        # each job keeps at most 4 requests in flight; snakemake runs up to 2 jobs at once
        assert server.max_in_flight <= 8
    res = tmp_path / "w" / "results"
    features = pd.read_parquet(res / "features" / "features.parquet")
    assert features["trace"].notna().all() and features["attempt"].notna().all()
    assert features["teacher_correct"].notna().any()
    codes = {"05", "11", "51", "60", "70", "97"}
    assert set(features["domain"].dropna()) <= codes and features["domain"].notna().all()
    assert "correct_base" in features.columns and features["correct_base"].notna().any()
    samples = pd.read_parquet(res / "eval" / "base" / "synth_arith" / "samples.parquet")
    assert set(samples["setting"]) == {"cap=8", "cap=8,wait=1", "cap=16", "cap=16,wait=1"}
    n = cfg["synthetic"]["eval_size"]
    assert len(samples) == n * 4 and (samples["thinking_tokens"] <= samples["budget"]).all()
    # graded by the judge: it says Yes exactly when the attempt contains the gold answer
    assert list((res / "cache" / "sweeps" / "base" / "synth_arith" / "judge").rglob("*.json"))
    for path in (tmp_path / "w").rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".jsonl", ".parquet", ".yaml"):
            assert key.encode() not in path.read_bytes(), path


#: the tests' Snakemake logger plugin (tests/plugins): each planned job as JSON, from Snakemake's own records
JOB_PLUGIN = REPO / "tests" / "plugins"


def planned_jobs(workdir: Path, configfile: Path, *extra: str, cores: int = 16) -> list[dict]:
    """The jobs a dry run plans (rule_name, wildcards, input, output, resources, threads), read through
    Snakemake's logger-plugin interface rather than its console text."""
    log = workdir / "planned_jobs.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "S1FLOW_JOB_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(JOB_PLUGIN), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "-n", "--cores", str(cores), "--logger", "s1flow-jobs", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def jobs_of(jobs: list[dict], rule: str) -> list[dict]:
    return [j for j in jobs if j["rule_name"] == rule]


def rules_of(jobs: list[dict]) -> set[str]:
    return {j["rule_name"] for j in jobs}


def paper_dry_run(tmp_path: Path, cfg: dict | str, *extra: str) -> list[dict]:
    """The jobs of `snakemake -n` on a paper config (a name under config/paper, or a config dict) in a
    directory that, like a fresh clone, has no resources/ (the MSC rubric is downloaded by a rule)."""
    if isinstance(cfg, str):
        path = REPO / "config" / "paper" / f"{cfg}.yaml"
    else:
        path = tmp_path / "paper.yaml"
        path.write_text(yaml.safe_dump(cfg))
    return planned_jobs(tmp_path, path, *extra)


def dry_run_jobs(workdir: Path, cfg: dict) -> list[dict]:
    """The jobs of `snakemake -n` on a config dict."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return planned_jobs(workdir, workdir / "config.yaml", cores=2)


@pytest.mark.parametrize("paper,teacher,dataset,rules", [
    ("s1-32b", "dataset", "s1_59k", {"teacher_dataset"}),
    ("s1.1-32b", "api", "s1k_1.1", {"teacher_dataset", "teacher_traces"}),
])
def test_paper_config_with_released_traces(tmp_path, paper, teacher, dataset, rules):
    """s1's released traces replace the teacher API, or come first and the API writes the rest."""
    cfg = yaml.safe_load((REPO / "config" / "paper" / f"{paper}.yaml").read_text())
    cfg["features"].update(teacher=teacher, teacher_dataset={"preset": dataset})
    jobs = paper_dry_run(tmp_path, cfg)
    assert rules_of(jobs) & {"teacher_dataset", "teacher_traces"} == rules
    assert len(jobs_of(jobs, "train")) == 7  # five subsets, the token- and step-conditional models


@pytest.mark.parametrize("paper", ["s1-32b", "s1.1-32b"])
def test_paper_config_dry_run_requests_16_gpus_for_training(tmp_path, paper):
    """The paper's configs build the whole DAG offline; each GPU job asks for what the paper ran on:
    SFT on 2 nodes x 8 GPUs (one launcher task per node), vLLM sweeps on 8 GPUs (tensor parallel 8),
    the difficulty models on their tensor-parallel size."""
    jobs = paper_dry_run(tmp_path, paper)
    train_jobs = jobs_of(jobs, "train")
    assert sorted(j["wildcards"]["subset"] for j in train_jobs) == sorted(
        ["s1k", "random", "diverse", "longest", "full", "tokencond", "stepcond"])
    assert "sft_control_data" in rules_of(jobs)
    for job in train_jobs:
        want = {"gpu": 16, "nodes": 2, "mpi": "srun", "tasks": 2, "mem_mb": 900000, "runtime": 720}
        assert {k: job["resources"].get(k) for k in want} == want, job["resources"]
    sweeps = jobs_of(jobs, "sweep")
    assert sweeps and all(j["resources"]["gpu"] == 8 for j in sweeps)
    difficulty = {j["wildcards"]["alias"]: j["resources"]["gpu"] for j in jobs_of(jobs, "difficulty_labels")}
    assert difficulty["qwen7b"] == 1 and difficulty["qwen32b"] == 4
    assert {"difficulty_labels", "teacher_traces", "teacher_grades", "domain_labels", "sft_data"} <= rules_of(jobs)
    rubric = jobs_of(jobs, "download_msc_rubric")
    assert len(rubric) == 1 and rubric[0]["output"] == ["resources/msc.json"]
    # cov@n / maj@n read the sampled runs only: the base's maj@64 sweeps
    (sampling,) = jobs_of(jobs, "sampling")
    assert sampling["input"] and all(f.startswith("results/eval/base/") for f in sampling["input"])


def test_paper_dry_run_keeps_a_rubric_that_is_already_there(tmp_path):
    """resources/msc.json put there by the user is used as it is: no download is planned."""
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "msc.json").write_text("[]")  # not read in a dry run
    jobs = paper_dry_run(tmp_path, "s1-32b")
    assert "download_msc_rubric" not in rules_of(jobs) and "domain_labels" in rules_of(jobs)
    # no rule produces it then, so not even a forced rerun of everything replaces it
    jobs = paper_dry_run(tmp_path, "s1-32b", "--forceall")
    assert "download_msc_rubric" not in rules_of(jobs) and "domain_labels" in rules_of(jobs)
    assert (tmp_path / "resources" / "msc.json").read_text() == "[]"


def test_rubric_url_without_a_rubric_path_is_a_config_error(tmp_path):
    cfg = tiny_config()
    cfg["features"]["msc_rubric_url"] = "http://127.0.0.1:9/msc.json"
    cfg["features"]["msc_rubric"] = ""
    assert "config key 'features.msc_rubric': features.msc_rubric_url needs" in _config_error(tmp_path, cfg)
