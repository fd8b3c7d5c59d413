"""The ``s1flow`` command line: every curation stage on the user's own files, without Snakemake."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from s1flow import stages
from s1flow.errors import S1FlowError
from s1flow.logs import setup_logging
from s1flow.select import SUBSETS, BenchmarkSources, SelectionSettings
from s1flow.sources.presets import PRESETS

log = logging.getLogger("s1flow")


def _cmd_decontaminate(args: argparse.Namespace) -> None:
    report = stages.run_decontaminate(args.pool, args.against, args.out, ngram=args.ngram,
                                      report_file=args.report, cross_source=args.cross_source)
    t = report["totals"]
    print(f"kept {t['kept']} of {t['input']}: removed {t['eval_overlap']} eval overlaps, "
          f"{t['cross_source_overlap']} cross-source overlaps, {t['exact_duplicate']} exact duplicates")


def _cmd_select(args: argparse.Namespace) -> None:
    settings = SelectionSettings(
        size=args.size, seed=args.seed, algorithm=args.algorithm, uniform_fraction=args.uniform_fraction,
        benchmark=BenchmarkSources(aime=args.aime, gpqa=args.gpqa, long=args.long,
                                   long_min_tokens=args.long_min_tokens),
    )
    chosen = stages.run_select(args.features, args.subset, settings, args.out)
    print(f"{args.subset}: {len(chosen)} questions over {chosen['domain'].nunique()} domains -> {args.out}")


def _cmd_features(args: argparse.Namespace) -> None:
    if args.vocab or args.merges:
        tok_cfg = {"kind": "vocab_merges", "vocab": args.vocab, "merges": args.merges}
    else:
        tok_cfg = {"kind": "path", "path": args.tokenizer}
    stages.run_features(args.pool, args.out, tokenizer_cfg=tok_cfg, label_files=args.labels or (),
                        aliases=args.difficulty_models or (), trace_fallback=args.trace_fallback,
                        domain_fallback=args.domain_fallback)
    print(f"features -> {args.out}")


def _cmd_source(args: argparse.Namespace) -> None:
    spec = {"name": args.name, "kind": "file", "path": args.path, "format": args.format}
    if args.preset:
        spec["preset"] = args.preset
    else:
        spec["fields"] = {"question": args.question_field, "solution": args.solution_field,
                          "domain": args.domain_field}
        spec["cot_type"] = args.cot_type
        spec["source"] = args.source or args.name
    df = stages.run_load_source(spec, args.out, seed=args.seed)
    print(f"{len(df)} questions -> {args.out}")


def _cmd_synthesize(args: argparse.Namespace) -> None:
    stages.run_synthesize(args.out_dir, seed=args.seed, pool_size=args.pool_size, eval_size=args.eval_size,
                          duplicate_rate=args.duplicate_rate, junk_rate=args.junk_rate)
    print(f"synthetic pool and eval sets -> {args.out_dir}")


def _cmd_presets(args: argparse.Namespace) -> None:
    for key, preset in PRESETS.items():
        print(f"{key:16s} {preset.hub_id:40s} {preset.description}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``s1flow`` command."""
    p = argparse.ArgumentParser(prog="s1flow", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decontaminate", help="drop questions sharing a word n-gram with eval sets, and duplicates")
    d.add_argument("--pool", required=True, help="questions (parquet/jsonl/json/csv) with a 'question' column")
    d.add_argument("--against", required=True, nargs="+", metavar="FILE[:FIELD]",
                   help="eval files; FIELD (default 'question') names the question column")
    d.add_argument("--ngram", type=int, default=8, help="word n-gram length (s1: 8)")
    d.add_argument("--out", required=True, help="output file; its suffix sets the format")
    d.add_argument("--report", help="write the per-source removal report (JSON) here")
    d.add_argument("--cross-source", action="store_true",
                   help="also drop questions sharing an n-gram with an earlier 'source' group (s1's order rule)")
    d.set_defaults(func=_cmd_decontaminate)

    s = sub.add_parser("select", help="pick s1k or an ablation subset from a feature table")
    s.add_argument("--features", required=True, help="feature table (parquet/jsonl/json/csv)")
    s.add_argument("--subset", required=True, choices=SUBSETS)
    s.add_argument("--size", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--algorithm", choices=("notebook", "paper"), default="notebook")
    s.add_argument("--uniform-fraction", type=float, default=0.7)
    s.add_argument("--aime", default="AIME", help="regex of AIME-like sources")
    s.add_argument("--gpqa", default="gpqa", help="regex of GPQA-like sources")
    s.add_argument("--long", default="openaimath", help="regex of sources preselected for long traces")
    s.add_argument("--long-min-tokens", type=int, default=5600)
    s.set_defaults(func=_cmd_select)

    f = sub.add_parser("features", help="build the feature table from a pool")
    f.add_argument("--pool", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--tokenizer", help="tokenizer directory (tokenizer.json or vocab.json+merges.txt) or hub id")
    f.add_argument("--vocab", help="vocab.json (with --merges)")
    f.add_argument("--merges", help="merges.txt (with --vocab)")
    f.add_argument("--labels", nargs="*", help="label tables keyed by qhash")
    f.add_argument("--difficulty-models", nargs="*", help="aliases whose correct_<alias> columns to expect")
    f.add_argument("--trace-fallback", choices=("none", "solution"), default="none")
    f.add_argument("--domain-fallback", choices=("none", "source", "cot_type"), default="none")
    f.set_defaults(func=_cmd_features)

    n = sub.add_parser("source", help="normalise one local question file to the pool columns")
    n.add_argument("--path", required=True)
    n.add_argument("--out", required=True)
    n.add_argument("--name", default="local")
    n.add_argument("--format", default="auto", choices=("auto", "parquet", "jsonl", "json", "csv"))
    n.add_argument("--preset", help="map the file like this s1 source (see 's1flow presets')")
    n.add_argument("--question-field", default="question")
    n.add_argument("--solution-field")
    n.add_argument("--domain-field")
    n.add_argument("--cot-type", default="math")
    n.add_argument("--source", help="value of the 'source' column (default: --name)")
    n.add_argument("--seed", type=int, default=0)
    n.set_defaults(func=_cmd_source)

    y = sub.add_parser("synthesize", help="write the embedded synthetic pool, teacher and eval sets")
    y.add_argument("--out-dir", required=True)
    y.add_argument("--seed", type=int, default=42)
    y.add_argument("--pool-size", type=int, default=3000)
    y.add_argument("--eval-size", type=int, default=40)
    y.add_argument("--duplicate-rate", type=float, default=0.03)
    y.add_argument("--junk-rate", type=float, default=0.03)
    y.set_defaults(func=_cmd_synthesize)

    r = sub.add_parser("presets", help="list s1's 16 question sources")
    r.set_defaults(func=_cmd_presets)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``s1flow`` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        args.func(args)
    except S1FlowError as exc:
        print(f"s1flow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
