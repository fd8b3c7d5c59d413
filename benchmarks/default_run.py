"""Benchmark: the whole default workflow (`snakemake --cores all`) from an empty directory.

Runs the workflow on a config (default: ``config/config.yaml``) in a fresh temporary
directory, as a user's first run does, and reports the wall time of the whole run, the
seconds and peak RSS of every job that has a ``benchmark:`` file, and, when the run made
them, the nano numbers the README quotes: every model's accuracy per setting on the
multi-step eval set, the ablation table's rows and the claims with their intervals.

    python benchmarks/default_run.py [--configfile config/config.yaml] [--cores 2]
                                     [--keep DIR] [--out benchmarks/results/default_run.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def job_times(workdir: Path) -> pd.DataFrame:
    """One row per ``results/benchmarks/*.tsv``: job, seconds, max_rss (MB)."""
    rows = []
    for f in sorted((workdir / "results" / "benchmarks").glob("*.tsv")):
        t = pd.read_csv(f, sep="\t")
        rows.append({"job": f.stem, "seconds": float(t["s"].iloc[-1]),
                     "max_rss_mb": float(pd.to_numeric(t["max_rss"], errors="coerce").iloc[-1])})
    return pd.DataFrame(rows, columns=["job", "seconds", "max_rss_mb"])


def nano_numbers(workdir: Path, evalset: str = "synth_steps") -> dict:
    """Accuracy (%) per setting of every model on `evalset`, the ablation table's rows and the claims' rows."""
    from s1flow.generate.grading import per_question_correct
    from s1flow.generate.sweep import read_samples

    out: dict = {"evalset": evalset, "by_model": {}}
    for samples in sorted((workdir / "results" / "eval").glob(f"*/{evalset}/samples.parquet")):
        acc = per_question_correct(read_samples(samples)).groupby("setting")["correct"].mean() * 100
        out["by_model"][samples.parent.parent.name] = {k: round(float(v), 1) for k, v in acc.items()}
    table = workdir / "results" / "report" / "ablation.csv"
    if table.is_file():
        out["ablation"] = pd.read_csv(table)[["model", "evalset", "setting", "accuracy", "ci_low",
                                             "ci_high"]].to_dict("records")
    claims = workdir / "results" / "report" / "claims.csv"
    if claims.is_file():
        out["claims"] = pd.read_csv(claims)[["evalset", "claim", "accuracy", "versus_accuracy", "difference", "low",
                                             "high", "holds"]].round(2).to_dict("records")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    p.add_argument("--cores", default="all")
    p.add_argument("--keep", help="run in this directory (kept) instead of a temporary one")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "default_run.json"))
    args = p.parse_args()

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="s1flow-default-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(Path(args.configfile).resolve()), "--cores", str(args.cores)]
    print("running:", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the workflow failed (exit {proc.returncode}); its logs are in {workdir}/logs")
    jobs = job_times(workdir)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "configfile": os.path.relpath(args.configfile, REPO),
        "cores": args.cores,
        "wall_seconds": round(wall, 1),
        "jobs_seconds": round(float(jobs["seconds"].sum()), 1),
        "peak_job_rss_mb": round(float(jobs["max_rss_mb"].max()), 1) if len(jobs) else None,
        "jobs": jobs.round(2).to_dict("records"),
        "nano": nano_numbers(workdir),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(jobs.sort_values("seconds", ascending=False).to_string(index=False))
    print(f"wall {wall:.0f} s (jobs {report['jobs_seconds']:.0f} s); nano: "
          f"{json.dumps(report['nano']['by_model'].get('s1k', {}))}")
    if not args.keep:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
