"""Benchmark: what two of s1's defaults do to the nano numbers, one at a time, on one machine.

Takes a finished default run (``python benchmarks/default_run.py --keep DIR``) and measures,
against that run's own figures:

- ``evaluation.graded_text: all`` (thinking + answer graded) instead of s1's answer section:
  every sample of the run is regraded offline, so the two columns grade the same generations;
- ``training.loss_normalization: token`` (the mean over all tokens of the global batch)
  instead of s1's per-sequence mean: a copy of the run is rerun with that one key changed,
  so Snakemake retrains every fine-tuned model and resweeps it; the base, pool and subsets
  are reused. The copy is ``DIR-token-loss``; one left by an earlier call is resumed.

Prints accuracy (%) per (model, eval set, setting) side by side and writes them as JSON.

    python benchmarks/s1_defaults.py --run DIR [--configfile config/config.yaml] [--cores 2]
                                     [--out benchmarks/results/s1_defaults.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def accuracy(run: Path, graded: str, config: dict) -> pd.DataFrame:
    """Accuracy (%) per (model, evalset, setting) of a run, grading `graded` (``answer`` as stored, or ``all``)."""
    from s1flow.generate.evalsets import load_benchmark
    from s1flow.generate.grading import grade, per_question_correct
    from s1flow.generate.sweep import read_samples

    rows = []
    benchmarks: dict = {}  # eval set -> (gold answers, kind), loaded once for all models
    for path in sorted((run / "results" / "eval").glob("*/*/samples.parquet")):
        model, evalset = path.parent.parent.name, path.parent.name
        samples = read_samples(path)
        if graded == "all":
            if evalset not in benchmarks:
                table = next((run / "results" / "evalsets").glob(f"{evalset}.*"))
                bench = load_benchmark(table, seed=int(config["seed"]),
                                       prompt_style=config["generation"].get("prompt_style", "s1"))
                benchmarks[evalset] = (dict(zip(bench.items["qid"], bench.items["answer"], strict=True)),
                                       bench.kind)
            gold, kind = benchmarks[evalset]
            # graded_text "all" (s1flow.generate.sweep.graded_text): the thinking followed by the answer
            regraded = [grade(t + a, gold[q], kind)
                        for t, a, q in zip(samples["thinking"], samples["answer"], samples["qid"], strict=True)]
            samples = samples.assign(extracted=[e for e, _ in regraded], correct=[c for _, c in regraded])
        acc = per_question_correct(samples).groupby("setting", sort=False)["correct"].mean() * 100
        rows += [{"model": model, "evalset": evalset, "setting": s, "accuracy": round(float(a), 1)}
                 for s, a in acc.items()]
    return pd.DataFrame(rows, columns=["model", "evalset", "setting", "accuracy"])


def rerun_with(run: Path, copy: Path, config: dict, cores: str) -> float:
    """Copy `run` to `copy` (unless an earlier call left it there: then it resumes) and rerun the
    workflow there on `config`; returns the wall seconds."""
    if not copy.exists():
        shutil.copytree(run, copy, symlinks=True)
    configfile = copy / "s1_defaults_config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(copy),
           "--configfile", str(configfile), "--cores", cores]
    print("running:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        sys.exit(f"the rerun failed; its logs are in {copy}/logs")
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a finished default run (default_run.py --keep DIR)")
    p.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    p.add_argument("--cores", default="all")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "s1_defaults.json"))
    args = p.parse_args()

    run = Path(args.run).resolve()
    if not (run / "results" / "report" / "ablation.csv").is_file():
        sys.exit(f"{run}: not a finished run (results/report/ablation.csv is missing)")
    config = yaml.safe_load(Path(args.configfile).read_text())
    table = accuracy(run, "answer", config).rename(columns={"accuracy": "s1 defaults"})
    table["graded_text: all"] = accuracy(run, "all", config)["accuracy"].to_numpy()

    token = json.loads(json.dumps(config))
    token.setdefault("training", {})["loss_normalization"] = "token"
    wall = rerun_with(run, run.with_name(run.name + "-token-loss"), token, args.cores)
    token_acc = accuracy(run.with_name(run.name + "-token-loss"), "answer", config)
    table = table.merge(token_acc.rename(columns={"accuracy": "loss_normalization: token"}),
                        on=["model", "evalset", "setting"], how="left")

    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(table.to_string(index=False))
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d"), "run": str(run), "token_loss_rerun_seconds": round(wall, 1),
              "accuracy": table.to_dict("records")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
