"""The README's commands work as written: each one runs from the root of a fresh clone.

Every command line of README.md (the fenced ``bash`` blocks, and inline code in tables and prose
that starts with a command) is either run here or named in NOT_RUN with the reason. A Snakemake
line that would start a real run is dry-run (``-n`` appended) and its planned jobs are read
through the tests' logger plugin (tests/plugins); ``s1flow plan-train`` and the checks run for
real. The "Command line" section's ``s1flow`` lines run for real, in order, in a clone of their
own, after the parts of ``results/`` they read are built (test_command_line_walkthrough). The
clone is ``git clone`` of this repository plus the uncommitted edits of its tracked files, so
untracked files, results/ and .snakemake/ never leak in; ``../shared`` next to it points at the
public data when that is present.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, shared_data_dir

pytestmark = pytest.mark.integration

#: first words that make an inline code span or a code-block line a command line
COMMAND_WORDS = frozenset({"snakemake", "s1flow", "python", "pip", "bash", "git", "cd", "hf", "export", "ruff"})

#: README sections whose commands are not collected (none: every section's commands run as written)
SECTIONS_NOT_COLLECTED: tuple[str, ...] = ()

#: the section whose `s1flow` lines are one walkthrough: each line reads what the lines before it wrote
WALKTHROUGH_SECTION = "Command line"

#: commands this test does not run, and why: exact command lines, or a prefix ending in a space that
#: covers a kind of command (installs, downloads, shell settings). No prefix covers `snakemake` or
#: `s1flow`: a new workflow or CLI command in the README is run unless it is named here exactly.
NOT_RUN: dict[str, str] = {
    "pip install ": "an install (the test runs in the environment it installs)",
    "git clone ": "the clone is what this test makes",
    "cd ": "the commands run at the clone's root",
    "hf download ": "a download from the Hugging Face hub (nothing downloads at test time)",
    "export ": "a shell setting: the test sets HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1 as the README says, "
               "leaves every S1FLOW_SLURM_* unset, as the README allows, and keeps HF_HOME in a temporary folder",
    "bash scripts/setup_vllm_cpu.sh": "an install (builds .venv-vllm; the vLLM tests use it)",
    "python -m pytest -q": "the test suite itself",
    "python -m pytest -q tests/unit": "the test suite's unit tier",
    "python benchmarks/default_run.py": "the whole default run, for real (15-25 minutes on 2 cores); "
                                        "`snakemake --cores all` is dry-run here",
    "python benchmarks/s1_defaults.py --run DIR": "reruns a finished run's stages (DIR: a run's directory)",
    "python benchmarks/nano_probe.py --run DIR": "reads a finished run's sweeps (DIR: a run's directory)",
    "snakemake --report": "names Snakemake's report option; the command is "
                          "`snakemake --report results/report/report.html`",
    "snakemake --report results/report/report.html": "needs a finished run's results "
                                                     "(test_workflow.py's test_e2e_html_report builds the report)",
}


def _sections(readme: str) -> list[tuple[str, str]]:
    """(heading, text) for each `## ` section; the text before the first heading is section ''."""
    parts = re.split(r"^## +(.+)$", readme, flags=re.MULTILINE)
    return [("", parts[0])] + [(parts[k].strip(), parts[k + 1]) for k in range(1, len(parts), 2)]


def _commands_of_line(line: str) -> list[str]:
    """The commands of one shell line: a trailing `# comment` dropped, `&&` chains split."""
    line = re.sub(r"\s+#\s.*$", "", line).strip()
    return [part.strip() for part in line.split("&&") if part.strip()]


def readme_commands(readme: str, *, skip_sections: tuple[str, ...] = SECTIONS_NOT_COLLECTED) -> list[str]:
    """Every command line of the README outside `skip_sections`, in order, each once.

    A command line is a line of a ```bash block (comments dropped, `&&` chains split), or inline code
    of at least two words whose first word is in COMMAND_WORDS (the tables' and the prose's commands;
    a lone `snakemake` or `srun` is a name, not a command)."""
    found: list[str] = []
    for heading, text in _sections(readme):
        if heading in skip_sections:
            continue
        prose = text
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
            prose = prose.replace(block.group(0), "")
            if block.group(1) in ("bash", "sh", "shell"):
                for line in block.group(2).replace("\\\n", " ").splitlines():
                    found += _commands_of_line(line)
        for span in re.findall(r"`([^`\n]+)`", prose):
            words = span.split()
            if len(words) >= 2 and words[0] in COMMAND_WORDS:
                found.append(span.strip())
    return list(dict.fromkeys(found))


def section_commands(readme: str, heading: str) -> list[str]:
    """The command lines of the README's `## heading` section, in order."""
    others = tuple(h for h, _ in _sections(readme) if h != heading)
    return readme_commands(readme, skip_sections=others)


def not_run_reason(command: str) -> str | None:
    """Why `command` is not run (NOT_RUN: an exact line, or a prefix ending in a space), or None."""
    if command in NOT_RUN:
        return NOT_RUN[command]
    return next((why for key, why in NOT_RUN.items() if key.endswith(" ") and command.startswith(key)), None)


README = (REPO / "README.md").read_text(encoding="utf-8")
README_COMMANDS = readme_commands(README)
#: the "Command line" walkthrough's `s1flow` lines, in the README's order
WALKTHROUGH = [c for c in section_commands(README, WALKTHROUGH_SECTION) if c.split()[0] == "s1flow"]


def runs_here(command: str) -> bool:
    """Commands this test runs: Snakemake (dry-run unless it is one already), plan-train, ruff and the
    walkthrough's `s1flow` lines, unless NOT_RUN names them."""
    kind = (command.split()[0] == "snakemake" or command.startswith(("s1flow plan-train ", "ruff "))
            or command in WALKTHROUGH)
    return kind and not_run_reason(command) is None


#: the commands run one by one; the walkthrough's lines run together, in order
RUN = [c for c in README_COMMANDS if runs_here(c) and c not in WALKTHROUGH]


def test_every_readme_command_is_run_or_listed():
    """A command the README gains is run by this test or named in NOT_RUN; NOT_RUN lists nothing stale."""
    assert RUN, "no command found in README.md"
    unhandled = [c for c in README_COMMANDS if not runs_here(c) and not_run_reason(c) is None]
    assert not unhandled, f"README commands neither run by this test nor in NOT_RUN: {unhandled}"
    used = {key for key in NOT_RUN for c in README_COMMANDS
            if c == key or (key.endswith(" ") and c.startswith(key))}
    assert not set(NOT_RUN) - used, f"NOT_RUN entries no README command matches: {set(NOT_RUN) - used}"
    # the documented ways to run the workflow are among the commands run
    assert {"snakemake --cores all", "snakemake --cores all --configfile tests/configs/realdata.yaml",
            "snakemake --workflow-profile profiles/slurm --configfile config/paper/s1-32b.yaml",
            "s1flow plan-train --config config/paper/s1-32b.yaml"} <= set(RUN) | set(WALKTHROUGH)
    # the walkthrough shows every subcommand of `s1flow`, and the test checks each one's outcome
    assert {c.split()[1] for c in WALKTHROUGH} == s1flow_subcommands() == set(WALKTHROUGH_CHECKS)


def s1flow_subcommands() -> set[str]:
    """The subcommands of the `s1flow` command line."""
    from s1flow.cli import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


@dataclass
class Clone:
    root: Path
    env: dict[str, str]
    has_data: bool


def make_clone(base: Path) -> Clone:
    """A fresh clone of the repository in `base` (with the uncommitted edits of tracked files), ../shared
    beside it."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("README commands run in a git clone of the repository; this copy is not a git checkout")
    root = base / "s1flow"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
    diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD", "--binary"], check=True,
                          capture_output=True).stdout
    if diff:
        subprocess.run(["git", "-C", str(root), "apply", "--whitespace=nowarn"], input=diff, check=True)
    data = shared_data_dir()
    if data is not None:
        (base / "shared").mkdir()
        (base / "shared" / "data").symlink_to(data, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("S1FLOW_SLURM_")}
    env.update(
        # the clone's library and the tests' job-logger plugin, not an installed copy
        PYTHONPATH=os.pathsep.join(filter(None, [str(root / "src"), str(root / "tests" / "plugins"),
                                                 os.environ.get("PYTHONPATH")])),
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(base / "hf"),
    )
    return Clone(root, env, data is not None)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Clone:
    """The clone the README's commands run in one by one."""
    return make_clone(tmp_path_factory.mktemp("readme"))


@dataclass
class Result:
    returncode: int
    output: str
    jobs: list[dict]

    def rules(self) -> set[str]:
        return {j["rule_name"] for j in self.jobs}

    def of(self, rule: str) -> list[dict]:
        return [j for j in self.jobs if j["rule_name"] == rule]


def run_as_written(clone: Clone, command: str) -> Result:
    """`command` at the clone's root: Snakemake as a dry run with its planned jobs logged, others as they are."""
    args = shlex.split(command)
    log = clone.root.parent / "planned_jobs.jsonl"
    log.unlink(missing_ok=True)
    if args[0] == "snakemake":
        args = [sys.executable, "-m", "snakemake", *args[1:]]
        if "--lint" not in args:
            if not {"-n", "--dry-run", "--dryrun"} & set(args):
                args.append("-n")
            args += ["--logger", "s1flow-jobs"]
    elif args[0] in ("s1flow", "ruff"):
        exe = shutil.which(args[0])
        if exe is None:
            pytest.skip(f"`{args[0]}` is not installed (pip install -e \".[test]\")")
        args[0] = exe
    r = subprocess.run(args, cwd=clone.root, env={**clone.env, "S1FLOW_JOB_LOG": str(log)}, capture_output=True,
                       text=True, timeout=600)
    jobs = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    return Result(r.returncode, r.stdout + r.stderr, jobs)


NANO_MODELS = {"s1k", "random", "diverse", "longest", "full", "tokencond", "stepcond"}


def check_nano_run(r: Result) -> None:
    """The embedded default (README "Quick start", "What the nano run shows"): five subsets and the token-
    and step-conditional models fine-tuned, every model and the base swept on synth_steps and synth_mc
    (synth_mixed only for decontamination), the report written."""
    assert {j["wildcards"]["subset"] for j in r.of("train")} == NANO_MODELS
    sweeps = {(j["wildcards"]["evalmodel"], j["wildcards"]["evalset"]) for j in r.of("sweep")}
    assert sweeps == {(m, e) for m in NANO_MODELS | {"base"} for e in ("synth_steps", "synth_mc")}
    assert {"synthesize", "train_tokenizer", "build_model", "ablation", "methods", "scaling_figure",
            "sampling", "compute", "all"} <= r.rules()


def check_realdata(r: Result) -> None:
    """tests/configs/realdata.yaml: the twelve local pool files and three eval sets in ../shared/data curated
    into the five subsets; nothing trained or swept (training.enabled: false)."""
    sources = r.of("normalise_source")
    assert len(sources) == 12
    assert all(len(j["input"]) == 1 and j["input"][0].startswith("../shared/data/pool/") for j in sources)
    assert {j["wildcards"]["evalset"] for j in r.of("eval_set")} == {"aime24", "math500", "gpqa_diamond"}
    assert {j["wildcards"]["subset"] for j in r.of("select_subset")} == {"s1k", "random", "diverse", "longest",
                                                                           "full"}
    assert not {"train", "sweep", "build_model", "synthesize"} & r.rules()


def check_paper_on_slurm(r: Result) -> None:
    """config/paper/s1-32b.yaml through profiles/slurm (README "What each GPU rule asks for"): SFT of the five
    subsets and the two length-controlled models on 2 nodes x 8 GPUs, 2 tasks, 900000 MB, 720 min; sweeps on
    8 GPUs for 24 h; the difficulty models on 1 and 4 GPUs for 24 h."""
    train = r.of("train")
    assert {j["wildcards"]["subset"] for j in train} == NANO_MODELS
    for job in train:
        want = {"gpu": 16, "nodes": 2, "tasks": 2, "mem_mb": 900000, "runtime": 720}
        assert {k: job["resources"].get(k) for k in want} == want, job["resources"]
    assert r.of("sweep") and all(j["resources"]["gpu"] == 8 and j["resources"]["runtime"] == 24 * 60
                                 for j in r.of("sweep"))
    difficulty = {j["wildcards"]["alias"]: (j["resources"]["gpu"], j["resources"]["runtime"])
                  for j in r.of("difficulty_labels")}
    assert difficulty == {"qwen7b": (1, 24 * 60), "qwen32b": (4, 24 * 60)}
    assert len(r.of("normalise_source")) == 16  # the paper's 16 hub sources


def check_paper_downloads(r: Result) -> None:
    """`--until normalise_source eval_set` (README step 3): only the source and eval-set tables, all 16 sources."""
    assert r.rules() == {"normalise_source", "eval_set"}
    assert len(r.of("normalise_source")) == 16


def check_plan_train(r: Result) -> None:
    """`s1flow plan-train` on the paper config: the per-GPU memory of the 2 x 8-GPU layout, exit 0 when it
    fits, exit 1 with advice when it does not (README "Command line")."""
    assert "2 node(s) x 8 GPUs" in r.output and "total per GPU" in r.output, r.output[-2000:]
    assert r.returncode == (1 if "does not fit" in r.output else 0), r.output[-2000:]


#: what each command's result must show, beyond a clean exit (plan-train's exit status is its answer)
CHECKS = {
    "snakemake --cores all": check_nano_run,
    "snakemake -n": check_nano_run,
    "snakemake --cores all --configfile tests/configs/realdata.yaml": check_realdata,
    "snakemake --workflow-profile profiles/slurm --configfile config/paper/s1-32b.yaml": check_paper_on_slurm,
    "snakemake -n --workflow-profile profiles/slurm --configfile config/paper/s1-32b.yaml": check_paper_on_slurm,
    "snakemake --cores 8 --configfile config/paper/s1-32b.yaml --until normalise_source eval_set":
        check_paper_downloads,
    "s1flow plan-train --config config/paper/s1-32b.yaml": check_plan_train,
}


def needs_shared_data(command: str) -> bool:
    """A command whose config reads ../shared/data."""
    return any("../shared/data" in (REPO / a).read_text(encoding="utf-8")
               for a in shlex.split(command) if a.endswith(".yaml") and (REPO / a).is_file())


@pytest.mark.parametrize("command", RUN)
def test_readme_command_runs_as_written(clone, command):
    if needs_shared_data(command) and not clone.has_data:
        pytest.skip("the config reads ../shared/data, which is absent (set S1FLOW_SHARED_DATA to its location)")
    r = run_as_written(clone, command)
    check = CHECKS.get(command)
    if check is not check_plan_train:
        assert r.returncode == 0, f"`{command}` failed at the repository root:\n{r.output[-3000:]}"
    if check is not None:
        check(r)
    elif command.startswith("snakemake") and "--lint" not in command:
        assert r.jobs, f"`{command}` planned no job"


# --- the "Command line" walkthrough -------------------------------------------------------------------------

#: what `snakemake --cores all` builds that the walkthrough reads: the tokenizer (with the pool and the
#: synthetic data it is trained on) by the workflow itself; the base model is added after it
WORKFLOW_TARGETS = ("results/tokenizer/tokenizer.json", "results/synthetic/teacher.parquet")
BASE_MODEL = "results/models/base"

#: the base model as the workflow's build_model rule makes it, left untrained (its pretraining takes minutes;
#: the walkthrough's sweep needs a model, not a good one)
BUILD_BASE_MODEL = """
import yaml
from s1flow.stages.labels import run_build_model
config = yaml.safe_load(open("config/config.yaml", encoding="utf-8"))
spec = {k: v for k, v in config["models"]["base"].items() if k != "pretrain"}
run_build_model("results/tokenizer", "results/models/base", spec=spec, seed=config["seed"],
                work_dir="results/cache/models/base", log_file="logs/models/base.log")
"""


def build_workflow_results(clone: Clone) -> None:
    """The parts of results/ the walkthrough reads, made by the workflow's own code in the clone."""
    for args in ([sys.executable, "-m", "snakemake", "--cores", "2", *WORKFLOW_TARGETS],
                 [sys.executable, "-c", BUILD_BASE_MODEL]):
        r = subprocess.run(args, cwd=clone.root, env=clone.env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"building results/ for the walkthrough failed:\n{(r.stdout + r.stderr)[-3000:]}"
    read = sorted({a for c in WALKTHROUGH for a in shlex.split(c) if a.startswith("results/")})
    missing = [p for p in read if not (clone.root / p).exists()]
    assert not missing, f"the walkthrough reads {missing}, which this test does not build (WORKFLOW_TARGETS)"


def options(command: str) -> dict[str, list[str]]:
    """The `--option value...` pairs of a command line."""
    found: dict[str, list[str]] = {}
    key = None
    for word in shlex.split(command)[2:]:
        if word.startswith("--"):
            key = word
            found[key] = []
        elif key is not None:
            found[key].append(word)
    return found


def read(root: Path, path: str) -> pd.DataFrame:
    """A table the walkthrough wrote, through the library's one reader."""
    from s1flow.io import read_table

    return read_table(root / path)


def ngrams(question: str, n: int) -> set[tuple[str, ...]]:
    """s1's word n-grams: the lower-cased question split on whitespace, every run of n words."""
    words = question.lower().split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def check_presets(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """"s1's 16 sources and their hub ids": one line each, a name and an owner/name id."""
    lines = [line.split() for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 16 and all("/" in words[1] for words in lines), r.output


def check_synthesize(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """demo/questions.parquet, demo/teacher.parquet and demo/eval/*.parquet, none empty."""
    out = root / opts["--out-dir"][0]
    files = [out / "questions.parquet", out / "teacher.parquet", *sorted((out / "eval").glob("*.parquet"))]
    assert len(files) > 2 and all(f.is_file() and len(pd.read_parquet(f)) for f in files), files


def check_source(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """The file's columns mapped to the pool's, one row per question, the source named --name."""
    from s1flow.curate.pool import NORMALISED_COLUMNS

    given, out = read(root, opts["--path"][0]), read(root, opts["--out"][0])
    assert list(out.columns) == NORMALISED_COLUMNS
    for field, column in (("--question-field", "question"), ("--solution-field", "solution"),
                          ("--domain-field", "domain")):
        assert out[column].tolist() == given[opts[field][0]].tolist(), column
    assert set(out["source"]) == set(opts["--name"])


def check_decontaminate(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """Questions of the pool, none sharing a word n-gram with a question of an eval file, none twice."""
    pool, out = read(root, opts["--pool"][0]), read(root, opts["--out"][0])
    n = int(opts["--ngram"][0])
    assert 0 < len(out) <= len(pool) and set(out["question"]) <= set(pool["question"])
    assert out["question"].is_unique
    evals: set[tuple[str, ...]] = set()
    for spec in opts["--against"]:
        path, _, field = spec.partition(":")
        evals |= {g for q in read(root, path)[field or "question"] for g in ngrams(q, n)}
    assert not [q for q in out["question"] if ngrams(q, n) & evals]


def check_features(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """One feature row per question of the pool, keyed by s1's question id (sha256 of the question, 16 hex)."""
    pool, out = read(root, opts["--pool"][0]), read(root, opts["--out"][0])
    ids = {hashlib.sha256(q.encode("utf-8")).hexdigest()[:16] for q in pool["question"]}
    assert out["qhash"].is_unique and set(out["qhash"]) == ids
    labels = read(root, opts["--labels"][0]).set_index("qhash")
    traced = out[out["qhash"].isin(labels.index)]
    assert len(traced) and (traced["trace"].to_numpy() == labels.loc[traced["qhash"], "trace"].to_numpy()).all()


def check_select(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """At most --size questions of the feature table, one row per qhash."""
    features, out = read(root, opts["--features"][0]), read(root, opts["--out"][0])
    assert 0 < len(out) <= int(opts["--size"][0])
    assert out["qhash"].is_unique and set(out["qhash"]) <= set(features["qhash"])


def check_sweep(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """One graded row per (question, setting, sample): every (cap, waits) pair for every question."""
    questions, out = read(root, opts["--benchmark"][0]), read(root, opts["--out"][0])
    settings = len(opts["--caps"][0].split(",")) * len(opts["--waits"][0].split(","))
    assert out["setting"].nunique() == settings and out["qid"].nunique() == len(questions)
    assert len(out) == len(questions) * settings and not out.duplicated(["qid", "setting", "sample"]).any()
    assert out["correct"].notna().all()


def check_walkthrough_plan_train(root: Path, opts: dict[str, list[str]], r: Result) -> None:
    """The per-GPU memory, exit 1 with advice when it does not fit."""
    check_plan_train(r)


#: what each subcommand's line of the walkthrough must have written or printed, as the README says
WALKTHROUGH_CHECKS = {
    "presets": check_presets, "synthesize": check_synthesize, "source": check_source,
    "decontaminate": check_decontaminate, "features": check_features, "select": check_select,
    "sweep": check_sweep, "plan-train": check_walkthrough_plan_train,
}


def test_command_line_walkthrough(tmp_path_factory):
    """The "Command line" section's lines, pasted in order at a fresh clone's root after the workflow has
    built what they read from results/, each do what the README says."""
    clone = make_clone(tmp_path_factory.mktemp("walkthrough"))
    build_workflow_results(clone)
    for command in WALKTHROUGH:
        r = run_as_written(clone, command)
        check = WALKTHROUGH_CHECKS[command.split()[1]]
        if check is not check_walkthrough_plan_train:
            assert r.returncode == 0, f"`{command}` failed at the repository root:\n{r.output[-3000:]}"
        check(clone.root, options(command), r)
