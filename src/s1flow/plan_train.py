"""``s1flow plan-train``: will the fine-tuning fit in GPU memory? (s1's most reported problem: OOM.)

This module reads the ``training`` section of a workflow config, resolves the model's config
(a local directory, the built-in table of Qwen2.5 shapes, or the hub through transformers),
plans with :mod:`s1flow.train.memory_model` (whose docstring has the memory formula) and
prints the plan; ``python -m s1flow.plan_train`` runs the command line. The memory
model's names (:func:`plan_training`, :class:`Plan`, :func:`model_shape`, ...) are
re-exported here.

``seq_len`` is the longest sequence a micro batch will hold: the block size unless the
training data is known to be shorter (``--sft FILE`` reads the SFT table's ``tokens``).
The SFT collator pads to the longest example of the batch, not to the block size.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from s1flow.arguments import positive_int, schema_arg
from s1flow.config.loading import read_yaml, validated
from s1flow.errors import ConfigError, InputFileError, S1FlowError
from s1flow.io import check_output, read_table, require_columns, write_json
from s1flow.models import read_model_config
from s1flow.train.memory_model import (
    GIB,
    LOSS_BYTES_PER_TOKEN_VOCAB,
    OVERHEAD_FRACTION,
    OVERHEAD_GIB,
    Activations,
    ModelShape,
    Plan,
    activation_bytes,
    model_shape,
    model_states_bytes,
    plan_training,
)

__all__ = [
    "GIB", "KNOWN_ALIASES", "KNOWN_CONFIGS", "LOSS_BYTES_PER_TOKEN_VOCAB", "OVERHEAD_FRACTION", "OVERHEAD_GIB",
    "PLAN_KEYS", "Activations", "ModelShape", "Plan", "activation_bytes", "build_parser", "format_plan",
    "longest_sft_sequence", "main_plan_train", "model_shape", "model_states_bytes", "plan_from_config_file",
    "plan_training", "resolve_model_config", "run_plan_train",
]

#: architectures of the Qwen2.5 instruct models (their config.json), for planning without the hub
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "qwen/qwen2.5-0.5b-instruct": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                       num_key_value_heads=2, intermediate_size=4864, vocab_size=151936,
                                       tie_word_embeddings=True),
    "qwen/qwen2.5-1.5b-instruct": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
                                       num_key_value_heads=2, intermediate_size=8960, vocab_size=151936,
                                       tie_word_embeddings=True),
    "qwen/qwen2.5-3b-instruct": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
                                     num_key_value_heads=2, intermediate_size=11008, vocab_size=151936,
                                     tie_word_embeddings=True),
    "qwen/qwen2.5-7b-instruct": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                                     num_key_value_heads=4, intermediate_size=18944, vocab_size=152064,
                                     tie_word_embeddings=False),
    "qwen/qwen2.5-14b-instruct": dict(hidden_size=5120, num_hidden_layers=48, num_attention_heads=40,
                                      num_key_value_heads=8, intermediate_size=13824, vocab_size=152064,
                                      tie_word_embeddings=False),
    "qwen/qwen2.5-32b-instruct": dict(hidden_size=5120, num_hidden_layers=64, num_attention_heads=40,
                                      num_key_value_heads=8, intermediate_size=27648, vocab_size=152064,
                                      tie_word_embeddings=False),
    "qwen/qwen2.5-72b-instruct": dict(hidden_size=8192, num_hidden_layers=80, num_attention_heads=64,
                                      num_key_value_heads=8, intermediate_size=29568, vocab_size=152064,
                                      tie_word_embeddings=False),
}
for _cfg in KNOWN_CONFIGS.values():
    _cfg["model_type"] = "qwen2"
#: other names of the same architectures (base models; s1's fine-tunes)
KNOWN_ALIASES = {
    **{k.removesuffix("-instruct"): k for k in KNOWN_CONFIGS},
    "simplescaling/s1-32b": "qwen/qwen2.5-32b-instruct",
    "simplescaling/s1.1-32b": "qwen/qwen2.5-32b-instruct",
}

_TRAINING_KEYS = ("block_size", "micro_batch_size", "gradient_checkpointing", "bf16", "zero_stage")


# --------------------------------------------------------------------------- from a workflow config

def _known_config(name: str) -> dict[str, Any] | None:
    key = name.strip().lower()
    key = KNOWN_ALIASES.get(key, key)
    cfg = KNOWN_CONFIGS.get(key)
    return dict(cfg) if cfg else None


def _hub_config(name: str) -> dict[str, Any]:
    """A hub model's config through transformers (its cache, or the hub when reachable)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name, local_files_only=True).to_dict()
    except (OSError, ValueError):
        pass
    return AutoConfig.from_pretrained(name).to_dict()


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") != 1 or "\\" in name


def resolve_model_config(base_model: str, *, base_dirs: Sequence[str | os.PathLike] = ()) -> tuple[dict, str]:
    """(config dict, where it came from) for a local model directory or a hub id.

    A relative directory is looked up in the working directory, then under each of `base_dirs`.
    """
    if not isinstance(base_model, str) or not base_model.strip():
        raise ConfigError(f"training.base_model must be a model directory or hub id, got {base_model!r}")
    path = Path(base_model).expanduser()
    candidates = [path] if path.is_absolute() else [path, *(Path(d) / path for d in base_dirs)]
    for cand in candidates:
        if cand.exists():
            cfg_file = cand / "config.json" if cand.is_dir() else cand
            if not cfg_file.is_file():
                raise InputFileError(f"{cand}: no config.json in the model directory")
            return read_model_config(cfg_file), str(cfg_file)
    known = _known_config(base_model)
    if known is not None:
        return known, "built-in table"
    if _looks_local(base_model):
        raise InputFileError(f"training.base_model {base_model!r}: model directory not found (looked in "
                             f"{', '.join(str(c.resolve()) for c in candidates)}); build the model first or give a "
                             f"hub id")
    try:
        return _hub_config(base_model), "transformers AutoConfig"
    except Exception as exc:  # noqa: BLE001 - anything the hub client raises becomes one clear message
        names = ", ".join(sorted(KNOWN_CONFIGS))
        raise ConfigError(f"training.base_model {base_model!r}: not in the built-in table ({names}) and "
                          f"transformers could not load its config ({type(exc).__name__}: {exc}); "
                          f"give a local model directory with a config.json") from exc


#: the ``training`` keys a plan reads
PLAN_KEYS = ("base_model", "block_size", "micro_batch_size", "gradient_checkpointing", "bf16", "zero_stage",
             "gpus_per_node", "nodes", "gpu_memory_gib", "offload_optimizer")


def longest_sft_sequence(sft_file: str | os.PathLike) -> int:
    """The longest example (in tokens) of an SFT table (its ``tokens`` column)."""
    table = read_table(sft_file)
    require_columns(table, ["tokens"], str(sft_file))
    tokens = pd.to_numeric(table["tokens"], errors="coerce")
    bad = tokens.isna() | (tokens < 1) | (tokens != tokens.round())
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputFileError(f"{sft_file}: column 'tokens' must hold positive whole token counts; row {row} "
                             f"holds {table['tokens'].iloc[row]!r}")
    return int(tokens.max())


def plan_from_config_file(path: str | os.PathLike, *, overrides: Mapping[str, Any] | None = None,
                          seq_len: int | None = None) -> list[Plan]:
    """The plan for the ``training`` section of a workflow config YAML.

    The file is validated against ``config/schema.yaml`` (errors name the file and the key) and keys
    it lacks take the schema's defaults, listed in the plan's notes. Read: :data:`PLAN_KEYS`
    (``base_model``: a local directory with config.json, or a hub id - the built-in Qwen2.5 table,
    else transformers' AutoConfig). `overrides` (same key names; None = not given) win over the file.
    """
    path = Path(path)
    raw = read_yaml(path)
    training = raw.get("training")
    if training is not None and not isinstance(training, dict):
        raise ConfigError(f"{path}: config key 'training': expected a mapping, got {training!r}")
    given = {**(training or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        cfg = validated({**raw, "training": given})["training"]
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if cfg["gpus_per_node"] == 0:
        raise ConfigError(f"{path}: training.gpus_per_node is 0 (CPU training); plan-train plans GPU memory: "
                          f"pass --gpus-per-node to plan a GPU run")
    missing = [f"{k}={cfg[k]}" for k in PLAN_KEYS if k not in given]
    notes = [f"not in {path.name}, used the defaults: {', '.join(missing)}"] if missing else []
    here = path.resolve().parent
    model_cfg, source = resolve_model_config(cfg["base_model"], base_dirs=[here, *list(here.parents)[:2]])
    return [plan_training(
        model_cfg, gpus_per_node=cfg["gpus_per_node"], nnodes=cfg["nodes"], gpu_memory_gib=float(cfg["gpu_memory_gib"]),
        block_size=cfg["block_size"], micro_batch_size=cfg["micro_batch_size"],
        gradient_checkpointing=cfg["gradient_checkpointing"], bf16=cfg["bf16"] != "false",
        zero_stage=cfg["zero_stage"], offload_optimizer=cfg["offload_optimizer"], seq_len=seq_len,
        model_name=str(cfg["base_model"]), notes=[*notes, f"model config: {source}"])]


# --------------------------------------------------------------------------- output and command line

def format_plan(plan: Plan) -> str:
    """A readable table of one plan."""
    def row(label: str, value: str) -> str:
        return f"  {label:<40} {value}"

    seq = f"{plan.seq_len}" + (f" (block size {plan.block_size})" if plan.seq_len != plan.block_size else "")
    attn = "" if plan.attention == "sdpa" else f", {plan.attention} attention"
    lines = [
        f"{plan.model}: {plan.total_params / 1e9:.2f}B parameters "
        f"(largest module {plan.largest_layer_params / 1e6:.0f}M)",
        f"  {plan.nnodes} node(s) x {plan.gpus_per_node} GPUs of {plan.gpu_memory_gib:g} GiB, ZeRO-{plan.zero_stage}"
        f"{' + optimizer offload' if plan.offload_optimizer else ''}, {'bf16' if plan.bf16 else 'fp32'}, "
        f"sequence {seq} x micro batch {plan.micro_batch_size}, gradient checkpointing "
        f"{'on' if plan.gradient_checkpointing else 'off'}{attn}",
        "",
        row("model states (DeepSpeed estimator)", f"{plan.model_states_gib:8.1f} GiB"),
    ]
    loss_label = "logits + loss" + (f" (chunks of {plan.loss_chunk_tokens})" if plan.loss_chunk_tokens else "")
    if plan.gradient_checkpointing:
        loss_peak = plan.loss_gib >= plan.layers_gib
        lines += [
            row("checkpointed layer inputs", f"{plan.boundaries_gib:8.1f} GiB"),
            row("one layer's backward", f"{plan.layers_gib:8.1f} GiB" + ("" if loss_peak else "  <- peak")),
            row(loss_label, f"{plan.loss_gib:8.1f} GiB" + ("  <- peak" if loss_peak else "")),
            row("activations (inputs + the peak)", f"{plan.activations_gib:8.1f} GiB"),
        ]
    else:
        lines += [row("all layers' activations", f"{plan.layers_gib:8.1f} GiB"),
                  row(loss_label, f"{plan.loss_gib:8.1f} GiB")]
    lines += [
        row("overhead (1.5 GiB + 10 %)", f"{plan.overhead_gib:8.1f} GiB"),
        row("total per GPU", f"{plan.total_gib:8.1f} GiB  of {plan.gpu_memory_gib:g}"),
        row("fits", "yes" if plan.fits else "NO"),
        row("longest sequence that fits", f"{plan.max_seq_len} tokens" if plan.max_seq_len else "none"),
    ]
    if plan.cpu_memory_per_node_gib >= 1:
        lines.append(row("host memory per node (DeepSpeed)", f"{plan.cpu_memory_per_node_gib:8.1f} GiB"))
    lines += [f"  note: {n}" for n in plan.notes]
    if plan.warnings:
        lines.append("")
        lines += [f"  ! {w}" if i == 0 else f"    - {w}" for i, w in enumerate(plan.warnings)]
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The ``plan-train`` arguments (on `parser`, e.g. a subcommand's, or a new one)."""
    p = parser or argparse.ArgumentParser(prog="s1flow plan-train", description=__doc__.split("\n", 1)[0])
    p.add_argument("--config", required=True, help="workflow config YAML (its 'training' section)")
    p.add_argument("--gpus-per-node", type=positive_int, help="override training.gpus_per_node")
    p.add_argument("--nodes", type=schema_arg("training.nodes"), help="override training.nodes")
    p.add_argument("--gpu-memory-gib", type=schema_arg("training.gpu_memory_gib", float),
                   help="override training.gpu_memory_gib")
    p.add_argument("--block-size", type=schema_arg("training.block_size"), help="override training.block_size")
    p.add_argument("--micro-batch-size", type=schema_arg("training.micro_batch_size"),
                   help="override training.micro_batch_size")
    p.add_argument("--base-model", help="override training.base_model")
    p.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false", default=None,
                   help="plan without gradient checkpointing")
    p.add_argument("--offload-optimizer", action="store_true", default=None, help="plan with ZeRO-Offload")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seq-len", type=positive_int, help="longest training sequence (default: the block size)")
    length.add_argument("--sft", help="SFT table (results/sft/<subset>.parquet): plan for its longest example")
    p.add_argument("--json", help="also write the plans to this JSON file")
    return p


def run_plan_train(args: argparse.Namespace) -> int:
    """Print the plans; 0 when every plan fits, 1 when one does not, 2 on bad input."""
    overrides = {"gpus_per_node": args.gpus_per_node, "nodes": args.nodes, "gpu_memory_gib": args.gpu_memory_gib,
                 "block_size": args.block_size, "micro_batch_size": args.micro_batch_size,
                 "base_model": args.base_model, "gradient_checkpointing": args.gradient_checkpointing,
                 "offload_optimizer": args.offload_optimizer}
    try:
        if args.json:
            check_output(args.json, inputs=[args.config, args.sft], formats=("json",))
        seq_len = args.seq_len
        if args.sft:
            seq_len = longest_sft_sequence(args.sft)
        plans = plan_from_config_file(args.config, overrides=overrides, seq_len=seq_len)
    except (S1FlowError, ImportError) as exc:
        print(f"s1flow plan-train: error: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join(format_plan(p) for p in plans))
    if args.json:
        write_json([{k: v for k, v in p.to_dict().items() if k != "shape"} for p in plans], args.json)
    return 0 if all(p.fits for p in plans) else 1


def main_plan_train(argv: Sequence[str] | None = None) -> int:
    """``s1flow plan-train --config FILE [overrides]``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a bad argument: argparse printed one message
        return int(exc.code or 0)
    return run_plan_train(args)


if __name__ == "__main__":
    sys.exit(main_plan_train())
