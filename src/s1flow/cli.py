"""The ``s1flow`` command line: every stage on the user's own files and models, without Snakemake."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence

from s1flow.arguments import cap, positive_int, schema_arg, schema_list_arg
from s1flow.config import ModelSweep
from s1flow.config.loading import schema_default
from s1flow.config.settings import selection_settings
from s1flow.curate.select import SUBSETS
from s1flow.curate.sources.presets import PRESETS
from s1flow.determinism import use_deterministic
from s1flow.errors import ConfigError, S1FlowError, first_line
from s1flow.generate.budget import COMPAT_MODES
from s1flow.generate.evalsets import CHOICE_SHUFFLES, PROMPT_STYLES
from s1flow.generate.grading import GRADED_TEXTS, summarise
from s1flow.generate.sweep import DTYPES, sweep_to_file
from s1flow.logs import setup_logging
from s1flow.plan_train import build_parser as plan_train_parser
from s1flow.plan_train import run_plan_train
from s1flow.stages.features import run_features
from s1flow.stages.pool import run_decontaminate, run_load_source
from s1flow.stages.select import run_select
from s1flow.stages.synthetic import run_synthesize

log = logging.getLogger("s1flow")


def _cmd_decontaminate(args: argparse.Namespace) -> None:
    report = run_decontaminate(args.pool, args.against, args.out, ngram=args.ngram, report_file=args.report,
                               cross_source=args.cross_source)
    t = report["totals"]
    print(f"kept {t['kept']} of {t['input']}: removed {t['eval_overlap']} eval overlaps, "
          f"{t['cross_source_overlap']} cross-source overlaps, {t['exact_duplicate']} exact duplicates")


def _cmd_select(args: argparse.Namespace) -> None:
    selection = {"size": args.size, "algorithm": args.algorithm, "uniform_fraction": args.uniform_fraction,
                 "benchmark": {"aime": args.aime, "gpqa": args.gpqa, "long": args.long,
                               "long_min_tokens": args.long_min_tokens}}
    settings = selection_settings(selection, args.seed)
    chosen = run_select(args.features, args.subset, settings, args.out)
    print(f"{args.subset}: {len(chosen)} questions over {chosen['domain'].nunique()} domains -> {args.out}")


def _cmd_features(args: argparse.Namespace) -> None:
    if args.tokenizer and (args.vocab or args.merges):
        raise ConfigError("give --tokenizer or --vocab with --merges, not both")
    if not (args.tokenizer or args.vocab or args.merges):
        raise ConfigError("the tokenizer that counts trace tokens: give --tokenizer DIR_OR_HUB_ID or --vocab and "
                          "--merges")
    if args.vocab or args.merges:
        tok_cfg = {"kind": "vocab_merges", "vocab": args.vocab, "merges": args.merges}
    else:
        tok_cfg = {"kind": "path", "path": args.tokenizer}
    run_features(args.pool, args.out, tokenizer_cfg=tok_cfg, label_files=args.labels or (),
                 aliases=args.difficulty_models or (), trace_fallback=args.trace_fallback,
                 domain_fallback=args.domain_fallback)
    print(f"features -> {args.out}")


def sweep_of_args(args: argparse.Namespace) -> ModelSweep:
    """The sweep the ``sweep`` command's arguments ask for (the same type the workflow's plan holds)."""
    return ModelSweep(
        caps=args.caps, waits=args.waits, wait_caps=args.wait_caps or (),
        min_thinking=args.min_thinking, ignore_str=args.ignore_str, open=args.open, temperature=args.temperature,
        samples=args.samples, rejection_caps=args.rejection_caps or (),
        rejection_max_tries=args.rejection_max_tries, rejection_temperature=args.rejection_temperature,
        majority_samples=args.majority, majority_cap=args.majority_cap,
        majority_temperature=args.majority_temperature, conditional=(),
        grader="judge" if args.judge_url else "rule", graded_text=args.graded_text)


def _cmd_sweep(args: argparse.Namespace) -> None:
    if args.tokenizer and args.engine != "openai":
        raise ConfigError("--tokenizer applies to --engine openai only (other engines read the model's own)")
    if args.base_url and args.engine != "openai":
        raise ConfigError("--base-url applies to --engine openai only")
    sweep = sweep_of_args(args)
    plan = sweep.sweep_plan(args.seed)
    options = {}
    if args.engine in ("transformers",):
        options = {"batch_size": args.batch_size}
        use_deterministic(True)
    elif args.engine == "openai":
        if not args.base_url:
            raise ConfigError("--engine openai needs --base-url (the server's /v1 address)")
        options = {"base_url": args.base_url, "api_key_env": args.api_key_env}
        if args.tokenizer:  # else the engine reads the tokenizer of --model
            options["tokenizer"] = args.tokenizer
    elif args.engine == "vllm":
        options = {"tensor_parallel_size": args.tensor_parallel_size, "seed": args.seed}
        if args.enforce_eager:
            options["enforce_eager"] = True
    judge = None
    if args.judge_url:
        judge = {"base_url": args.judge_url, "model": args.judge_model, "api_key_env": args.judge_key_env}
    df = sweep_to_file(args.model, args.benchmark, args.out, plan=plan, seed=args.seed, engine=args.engine,
                       engine_options=options, prompt_style=args.prompt_style, limit=args.limit,
                       answer_max_tokens=args.answer_max_tokens, max_gen_toks=args.max_gen_toks,
                       shared=not args.separately, cache_dir=args.cache_dir, judge=judge, compat=args.compat,
                       dtype=args.dtype, graded=sweep.graded_text, choice_shuffle=args.choice_shuffle)
    print(summarise(df).to_string(index=False))
    print(f"{len(df)} samples -> {args.out}")


def _cmd_source(args: argparse.Namespace) -> None:
    spec = {"name": args.name, "kind": "file", "path": args.path, "format": args.format}
    if args.preset:
        spec["preset"] = args.preset
    else:
        spec["fields"] = {"question": args.question_field, "solution": args.solution_field,
                          "domain": args.domain_field}
        spec["cot_type"] = args.cot_type
        spec["source"] = args.source or args.name
    df = run_load_source(spec, args.out, seed=args.seed)
    print(f"{len(df)} questions -> {args.out}")


def _cmd_synthesize(args: argparse.Namespace) -> None:
    run_synthesize(args.out_dir, seed=args.seed, pool_size=args.pool_size, eval_size=args.eval_size,
                   duplicate_rate=args.duplicate_rate, junk_rate=args.junk_rate)
    print(f"synthetic pool and eval sets -> {args.out_dir}")


def _cmd_presets(args: argparse.Namespace) -> None:
    for key, preset in PRESETS.items():
        print(f"{key:16s} {preset.hub_id:40s} {preset.description}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``s1flow`` command."""
    p = argparse.ArgumentParser(prog="s1flow", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    p.add_argument("--log", help="write the log (with the traceback of any failure) to this file")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("decontaminate", help="drop questions sharing a word n-gram with eval sets, and duplicates")
    d.add_argument("--pool", required=True, help="questions (parquet/jsonl/json/csv) with a 'question' column")
    d.add_argument("--against", required=True, nargs="+", metavar="FILE[:FIELD]",
                   help="eval files; FIELD (default 'question') names the question column")
    d.add_argument("--ngram", type=schema_arg("decontamination.ngram"),
                   default=schema_default("decontamination.ngram"), help="word n-gram length (s1: 8)")
    d.add_argument("--out", required=True, help="output file; its suffix sets the format")
    d.add_argument("--report", help="write the per-source removal report (JSON) here")
    d.add_argument("--cross-source", action="store_true",
                   help="also drop questions sharing an n-gram with an earlier 'source' group (s1's order rule)")
    d.set_defaults(func=_cmd_decontaminate)

    s = sub.add_parser("select", help="pick s1k or an ablation subset from a feature table")
    s.add_argument("--features", required=True, help="feature table (parquet/jsonl/json/csv)")
    s.add_argument("--subset", required=True, choices=SUBSETS)
    s.add_argument("--size", type=schema_arg("selection.size"), default=schema_default("selection.size"))
    s.add_argument("--seed", type=schema_arg("seed"), default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--algorithm", choices=("notebook", "paper"), default=schema_default("selection.algorithm"))
    s.add_argument("--uniform-fraction", type=schema_arg("selection.uniform_fraction", float),
                   default=schema_default("selection.uniform_fraction"))
    s.add_argument("--aime", default=schema_default("selection.benchmark.aime"),
                   help="regex of AIME-like sources (s1: that exact source)")
    s.add_argument("--gpqa",
                   default=schema_default("selection.benchmark.gpqa"),
                   help="regex of GPQA-like sources (s1: that exact source)")
    s.add_argument("--long",
                   default=schema_default("selection.benchmark.long"),
                   help="regex of sources preselected for long traces")
    s.add_argument("--long-min-tokens", type=schema_arg("selection.benchmark.long_min_tokens"),
                   default=schema_default("selection.benchmark.long_min_tokens"))
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
    n.add_argument("--name", type=schema_arg("sources[].name", str), default="local",
                   help="the source's name (letters, digits, '_', '.', '-')")
    n.add_argument("--format", default="auto", choices=("auto", "parquet", "jsonl", "json", "csv"))
    n.add_argument("--preset", help="map the file like this s1 source (see 's1flow presets')")
    n.add_argument("--question-field", default="question")
    n.add_argument("--solution-field")
    n.add_argument("--domain-field")
    n.add_argument("--cot-type", type=schema_arg("sources[].cot_type", str), default="math",
                   help="s1's cot_type of every question (math, science, coding, crossword, english, "
                        "health science)")
    n.add_argument("--source", help="value of the 'source' column (default: --name)")
    n.add_argument("--seed", type=schema_arg("seed"), default=0)
    n.set_defaults(func=_cmd_source)

    y = sub.add_parser("synthesize", help="write the embedded synthetic pool, teacher and eval sets")
    y.add_argument("--out-dir", required=True)
    y.add_argument("--seed", type=schema_arg("seed"), default=schema_default("seed"))
    y.add_argument("--pool-size", type=schema_arg("synthetic.pool_size"),
                   default=schema_default("synthetic.pool_size"))
    y.add_argument("--eval-size", type=schema_arg("synthetic.eval_size"),
                   default=schema_default("synthetic.eval_size"))
    y.add_argument("--duplicate-rate", type=schema_arg("synthetic.duplicate_rate", float),
                   default=schema_default("synthetic.duplicate_rate"))
    y.add_argument("--junk-rate", type=schema_arg("synthetic.junk_rate", float),
                   default=schema_default("synthetic.junk_rate"))
    y.set_defaults(func=_cmd_synthesize)

    w = sub.add_parser("sweep", help="budget-forcing sweep of a model on a benchmark -> samples.parquet")
    w.add_argument("--model", required=True, help="Hugging Face model directory (with tokenizer) or hub name")
    w.add_argument("--benchmark", required=True,
                   help="aime24, aime25, math500, gpqa_diamond (hub) or a local jsonl/json/csv/parquet file")
    w.add_argument("--caps", type=schema_list_arg("evaluation.caps", cap), default=("auto",),
                   help="thinking caps, comma-separated integers or 'auto'")
    w.add_argument("--waits", type=schema_list_arg("evaluation.waits"), default=(0,),
                   help="Wait counts, comma-separated; every (cap, waits) pair is run")
    w.add_argument("--wait-caps", type=schema_list_arg("evaluation.wait_caps", cap),
                   help="only these caps take the Wait counts above 0 (default: every cap), "
                                       "e.g. --caps 512,1024,auto --waits 0,1,2,4,6 --wait-caps auto")
    w.add_argument("--min-thinking", type=schema_arg("evaluation.min_thinking"),
                   default=schema_default("evaluation.min_thinking"),
                   help="suppress the end of thinking until this many tokens")
    w.add_argument("--ignore-str",
                   default=schema_default("evaluation.ignore_str"),
                   help="string that replaces an end-of-thinking attempt")
    w.add_argument("--open", action="store_true",
                   help="the model's own responses without budget forcing (no thinking section opened; "
                        "settings open:cap=B, the response limited to B + --answer-max-tokens)")
    w.add_argument("--engine", choices=("transformers", "vllm", "openai"), default="transformers",
                   help="openai = a running OpenAI-compatible server with vLLM's completions extensions")
    w.add_argument("--base-url", help="engine openai: the server's /v1 address")
    w.add_argument("--api-key-env", help="engine openai: environment variable holding the API key")
    w.add_argument("--tokenizer", help="engine openai: tokenizer directory or hub id (default: --model)")
    w.add_argument("--samples", type=schema_arg("evaluation.samples"),
                   default=schema_default("evaluation.samples"), help="samples per question and setting")
    w.add_argument("--temperature", type=schema_arg("evaluation.temperature", float),
                   default=schema_default("evaluation.temperature"), help="0 = greedy (s1's budget-forcing numbers)")
    w.add_argument("--seed", type=schema_arg("seed"), default=0, help="seeds sampling and the GPQA choice order")
    w.add_argument("--rejection-caps", type=schema_list_arg("evaluation.rejection_caps", cap),
                   help="also run rejection sampling at these caps")
    w.add_argument("--rejection-max-tries", type=schema_arg("evaluation.rejection_max_tries"),
                   default=schema_default("evaluation.rejection_max_tries"))
    w.add_argument("--rejection-temperature", type=schema_arg("evaluation.sampling_temperature", float),
                   default=schema_default("evaluation.sampling_temperature"))
    w.add_argument("--majority", type=schema_arg("evaluation.majority_samples"), default=0,
                   help="also run majority voting over N samples (maj@N)")
    w.add_argument("--majority-cap", type=schema_arg("evaluation.majority_cap", cap),
                   default=schema_default("evaluation.majority_cap"),
                   help="thinking cap of each majority-vote sample: an integer or 'auto' (as for --caps)")
    w.add_argument("--majority-temperature", type=schema_arg("evaluation.sampling_temperature", float),
                   default=schema_default("evaluation.sampling_temperature"))
    w.add_argument("--answer-max-tokens", type=schema_arg("generation.answer_max_tokens"),
                   default=schema_default("generation.answer_max_tokens"), help="token limit of the answer phase")
    w.add_argument("--max-gen-toks", type=schema_arg("generation.max_gen_toks"),
                   help="total generation budget for cap 'auto' (default, or 0: the model's context)")
    w.add_argument("--prompt-style", choices=PROMPT_STYLES, default=schema_default("generation.prompt_style"),
                   help="s1 = what s1's tasks send (the bare question; GPQA with 'A) ...' lines); simple-evals = "
                        "OpenAI simple-evals' instructions; plain = the question only")
    w.add_argument("--choice-shuffle", choices=CHOICE_SHUFFLES, default=schema_default("generation.choice_shuffle"),
                   help="GPQA option order: per question id from --seed, or s1's one stream seeded 0")
    w.add_argument("--compat", choices=COMPAT_MODES, default=schema_default("generation.compat"),
                   help="s1 = budget forcing exactly as s1's harness (every Wait segment gets the full cap, the "
                        "thinking is cut afterwards); s1flow = the cap counts every continuation")
    w.add_argument("--graded-text", choices=GRADED_TEXTS, default=schema_default("evaluation.graded_text"),
                   help="answer = grade the answer section only, as s1 does; all = thinking + answer")
    w.add_argument("--limit", type=positive_int, help="only the first N questions")
    w.add_argument("--batch-size", type=positive_int, default=16, help="transformers batch size")
    w.add_argument("--dtype", choices=DTYPES, default=schema_default("generation.dtype"),
                   help="engine precision (transformers, vllm); s1 evaluates in float32")
    w.add_argument("--tensor-parallel-size", type=positive_int, default=1, help="vLLM tensor parallel size")
    w.add_argument("--enforce-eager", action="store_true", help="vLLM: skip graph compilation (faster start-up)")
    w.add_argument("--separately", action="store_true",
                   help="run each setting on its own instead of sharing thinking prefixes (for checking)")
    w.add_argument("--cache-dir", help="keep finished chunks here so a killed sweep resumes")
    w.add_argument("--judge-url", help="grade with s1's LLM-judge prompt at this OpenAI-compatible /v1 address")
    w.add_argument("--judge-model", default="", help="the judge's model name")
    w.add_argument("--judge-key-env", help="environment variable holding the judge's API key")
    w.add_argument("--out", required=True, help="samples.parquet to write")
    w.set_defaults(func=_cmd_sweep)

    t = sub.add_parser("plan-train", help="per-GPU memory of a ZeRO-3 fine-tuning run; warns before an OOM")
    plan_train_parser(t)
    t.set_defaults(func=None, plan_train=True)

    r = sub.add_parser("presets", help="list s1's 16 question sources")
    r.set_defaults(func=_cmd_presets)
    return p


def _traceback_file(command: str) -> str:
    """Write the current exception's traceback to a new file in the temporary directory; its path."""
    fd, path = tempfile.mkstemp(prefix=f"s1flow-{command}-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        traceback.print_exc(file=fh)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``s1flow`` console script.

    Every failure is one message on stderr and exit status 2 (argparse's status for a bad
    argument); the traceback goes to the log (``--log``), or for an unexpected error to a file
    the message names.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument: argparse printed one message
        return int(exc.code or 0)
    setup_logging(args.log, level=logging.INFO if args.verbose else logging.WARNING)
    if getattr(args, "plan_train", False):
        return run_plan_train(args)
    where = f"s1flow {args.command}: error"
    try:
        args.func(args)
    except S1FlowError as exc:
        log.info("failed", exc_info=True)
        print(f"{where}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system's answer (permissions, a full disk) names the path
        log.info("failed", exc_info=True)
        print(f"{where}: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort: still one message, the traceback to a file
        log.info("unexpected error", exc_info=True)
        trace = args.log or _traceback_file(args.command)
        print(f"{where}: unexpected {type(exc).__name__}: {first_line(exc)} (an s1flow bug or an input it "
              f"does not check; traceback in {trace})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
