"""The GPU-memory model of ZeRO fine-tuning: model shapes, model states, activations and plans.

Per GPU, for one micro batch of ``T = micro_batch_size x seq_len`` tokens, with ``P`` the
model's parameters, ``P_L`` its largest single module (DeepSpeed's "largest layer"),
``N`` GPUs in all, ``h`` hidden size, ``L`` layers, ``nh``/``nkv`` attention/KV heads of
size ``d``, ``i`` the MLP width, ``V`` the vocabulary and ``b`` bytes per activation
(2 with bf16, 4 in fp32):

1. **Model states** (weights, gradients, Adam) -- DeepSpeed's own estimator,
   ``deepspeed.runtime.zero.stage3.estimate_zero3_model_states_mem_needs(total_params,
   largest_layer_params, num_gpus_per_node, num_nodes, cpu_offload, cpu_offload_params,
   zero_init)``: ``4 P_L + 18 P / N`` bytes (optimizer offloaded to the CPU:
   ``4 P_L + 2 P / N``). ZeRO-2 uses ``estimate_zero2_model_states_mem_needs``
   (``2 P + 18 P / N``); ZeRO-1 ``4 P + 16 P / N`` and ZeRO-0 ``20 P`` (16-bit weights and
   gradients, fp32 master weights, gradients and Adam moments; the last two sharded by ZeRO-1).
2. **Activations** -- what autograd keeps of a transformers Qwen2/Llama decoder layer
   (measured with ``torch.autograd.graph.saved_tensors_hooks``, see tests/unit/test_planner.py):

   - one layer's working set ``ws = T [2 h (4 + 2 b)  (two RMSNorms: fp32 input, normalised
     and scaled outputs) + b (2 nh d + 2 nkv d)  (rotated q, k, v, attention output)
     + 4 nh  (log-sum-exp of flash/SDPA attention: no seq x seq scores)
     + 4 i b  (gate, up, SiLU, product of the MLP)]``; eager attention adds
     ``T seq nh (4 + b)`` for the materialised scores;
   - the loss: ``12 T V`` bytes at its peak -- transformers computes the logits for every
     position (``b``), upcasts them to fp32 for the cross-entropy (4), keeps the fp32
     log-probabilities (4), and the backward pass holds their fp32 gradients (measured:
     11.9 bytes per token and vocabulary entry). A trainer that computes the loss in chunks
     of ``c`` tokens needs ``12 c V``;
   - with gradient checkpointing: one hidden state per layer boundary (``L T h b``) plus
     the larger of the loss peak and one recomputed layer in its backward pass
     (``ws + 3 T i b``, the working set and the gradients of the MLP intermediates);
   - without: every layer's working set plus the loss peak (``L ws + 12 T V``).
3. **Overhead** -- CUDA context, NCCL buffers, ZeRO-3 prefetch buffers and allocator
   fragmentation: 1.5 GiB + 10 % of (1) + (2). An assumption, not a measurement; it makes the
   estimate err on the safe side.

``seq_len`` is the longest sequence a micro batch will hold (default: the block size).

For s1's Qwen2.5-32B on 16 x 80 GB at 32768 tokens the loss alone is 56 GiB: that is why
s1.1 cut the block size to 20000 (S1_REFERENCE section 4 and 8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from s1flow.errors import ConfigError

GIB = 2**30
#: bytes per token and vocabulary entry at the peak of transformers' cross-entropy
LOSS_BYTES_PER_TOKEN_VOCAB = 12
OVERHEAD_GIB = 1.5
OVERHEAD_FRACTION = 0.10


# --------------------------------------------------------------------------- model shape

@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory depends on."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    model_type: str = ""

    @property
    def layer_params(self) -> int:
        h, d, nh, nkv, i = self.hidden_size, self.head_dim, self.num_heads, self.num_kv_heads, self.intermediate_size
        attn = h * nh * d + 2 * h * nkv * d + nh * d * h
        if self.qkv_bias:
            attn += nh * d + 2 * nkv * d
        if self.o_bias:
            attn += h
        if self.qk_norm:
            attn += 2 * d
        mlp = 3 * h * i + ((2 * i + h) if self.mlp_bias else 0)
        return attn + mlp + 2 * h  # two RMSNorms

    @property
    def total_params(self) -> int:
        h, v = self.hidden_size, self.vocab_size
        head = 0 if self.tie_word_embeddings else v * h
        return v * h + self.num_layers * self.layer_params + h + head

    @property
    def largest_layer_params(self) -> int:
        """Parameters of the largest single module (what ZeRO-3 gathers at once), as
        ``deepspeed.runtime.zero.stage3.model_to_params`` counts them."""
        h, d, nh, nkv, i = self.hidden_size, self.head_dim, self.num_heads, self.num_kv_heads, self.intermediate_size
        q = h * nh * d + (nh * d if self.qkv_bias else 0)
        kv = h * nkv * d + (nkv * d if self.qkv_bias else 0)
        o = nh * d * h + (h if self.o_bias else 0)
        gate = h * i + (i if self.mlp_bias else 0)
        down = i * h + (h if self.mlp_bias else 0)
        return max(self.vocab_size * h, q, kv, o, gate, down)


def _get(cfg: Mapping[str, Any], key: str, where: str, default: Any = None) -> Any:
    value = cfg.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: model config has no {key!r} (needed to count parameters)")
    return value


def model_shape(config: Mapping[str, Any] | Any, where: str = "model config") -> ModelShape:
    """The shape of a Qwen2/Qwen3/Llama/Mistral-style model from its config (dict or PretrainedConfig)."""
    cfg = config.to_dict() if hasattr(config, "to_dict") else config
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where}: expected a model config mapping, got {type(config).__name__}")
    if cfg.get("hidden_size") is None and isinstance(cfg.get("text_config"), Mapping):
        cfg = cfg["text_config"]
    if any(cfg.get(k) for k in ("num_experts", "num_local_experts", "n_routed_experts")):
        raise ConfigError(f"{where}: mixture-of-experts models are not supported by the planner")
    try:
        h = int(_get(cfg, "hidden_size", where))
        nh = int(_get(cfg, "num_attention_heads", where))
        nkv = int(cfg.get("num_key_value_heads") or nh)
        d = int(cfg.get("head_dim") or h // nh)
        model_type = str(cfg.get("model_type", ""))
        attention_bias = bool(cfg.get("attention_bias") or False)
        shape = ModelShape(
            hidden_size=h, num_layers=int(_get(cfg, "num_hidden_layers", where)), num_heads=nh, num_kv_heads=nkv,
            head_dim=d, intermediate_size=int(_get(cfg, "intermediate_size", where)),
            vocab_size=int(_get(cfg, "vocab_size", where)),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qkv_bias=model_type == "qwen2" or attention_bias,
            o_bias=model_type != "qwen2" and attention_bias,
            mlp_bias=bool(cfg.get("mlp_bias") or False),
            qk_norm=model_type == "qwen3",
            model_type=model_type,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: model config has a non-numeric size: {exc}") from exc
    if min(shape.hidden_size, shape.num_layers, shape.num_heads, shape.num_kv_heads, shape.head_dim,
           shape.intermediate_size, shape.vocab_size) < 1:
        raise ConfigError(f"{where}: model config sizes must be positive: {asdict(shape)}")
    return shape


# --------------------------------------------------------------------------- memory

def model_states_bytes(total_params: int, largest_layer_params: int, *, gpus_per_node: int, nnodes: int,
                       zero_stage: int, offload_optimizer: bool) -> tuple[int, int]:
    """(bytes per GPU, bytes of CPU memory per node) for weights, gradients and Adam states."""
    n = gpus_per_node * nnodes
    p = total_params
    if zero_stage == 3:
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

        cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
            total_params=p, largest_layer_params=largest_layer_params, num_gpus_per_node=gpus_per_node,
            num_nodes=nnodes, cpu_offload=offload_optimizer, cpu_offload_params=False, zero_init=True)
        return int(gpu), int(cpu)
    if zero_stage == 2:
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

        cpu, gpu = estimate_zero2_model_states_mem_needs(total_params=p, num_gpus_per_node=gpus_per_node,
                                                         num_nodes=nnodes, cpu_offload=offload_optimizer)
        return int(gpu), int(cpu)
    if zero_stage == 1:
        return (4 * p if offload_optimizer else 4 * p + 16 * p // n), (16 * p // nnodes if offload_optimizer else 0)
    if zero_stage == 0:
        return 20 * p, 0
    raise ConfigError(f"training.zero_stage must be 0..3, got {zero_stage}")


@dataclass(frozen=True)
class Activations:
    """Bytes of activation memory per GPU, by item."""

    boundaries: int  # checkpointed layer inputs (0 without gradient checkpointing)
    layers: int  # working sets kept for the backward pass (all layers, or one recomputed layer in its backward)
    loss: int  # logits, log-probabilities and their gradients at the loss's peak
    checkpointing: bool  # with it, the loss and the layer backward come one after the other: the larger counts

    @property
    def total(self) -> int:
        if self.checkpointing:
            return self.boundaries + max(self.layers, self.loss)
        return self.boundaries + self.layers + self.loss


def activation_bytes(shape: ModelShape, *, tokens: int, seq_len: int, gradient_checkpointing: bool, bf16: bool,
                     attention: str = "sdpa", loss_chunk_tokens: int | None = None) -> Activations:
    """Activation memory of one micro batch of `tokens` tokens (the module docstring has the formula)."""
    b = 2 if bf16 else 4
    h, d, nh, nkv, i = shape.hidden_size, shape.head_dim, shape.num_heads, shape.num_kv_heads, shape.intermediate_size
    t = tokens
    ws = t * (2 * h * (4 + 2 * b) + b * (2 * nh * d + 2 * nkv * d) + 4 * nh + 4 * i * b)
    if attention == "eager":
        ws += t * seq_len * nh * (4 + b)
    elif attention not in ("sdpa", "flash"):
        raise ConfigError(f"attention must be 'sdpa', 'flash' or 'eager', got {attention!r}")
    loss_tokens = min(t, loss_chunk_tokens) if loss_chunk_tokens else t
    loss = LOSS_BYTES_PER_TOKEN_VOCAB * loss_tokens * shape.vocab_size
    if gradient_checkpointing:
        return Activations(boundaries=shape.num_layers * t * h * b, layers=ws + 3 * t * i * b, loss=loss,
                           checkpointing=True)
    return Activations(boundaries=0, layers=shape.num_layers * ws, loss=loss, checkpointing=False)


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Plan:
    """Memory per GPU of one training setup, and what to change when it does not fit."""

    model: str
    total_params: int
    largest_layer_params: int
    gpus_per_node: int
    nnodes: int
    gpu_memory_gib: float
    block_size: int
    seq_len: int
    micro_batch_size: int
    gradient_checkpointing: bool
    bf16: bool
    zero_stage: int
    offload_optimizer: bool
    model_states_gib: float
    boundaries_gib: float
    layers_gib: float
    loss_gib: float
    activations_gib: float
    overhead_gib: float
    total_gib: float
    cpu_memory_per_node_gib: float
    fits: bool
    max_seq_len: int  # the longest sequence that fits with everything else unchanged (0: none)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    shape: ModelShape | None = field(default=None, repr=False)
    attention: str = "sdpa"
    loss_chunk_tokens: int | None = None

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nnodes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"], d["notes"] = list(self.warnings), list(self.notes)
        return d


def _estimate(shape: ModelShape, *, gpus_per_node: int, nnodes: int, seq_len: int, micro_batch_size: int,
              gradient_checkpointing: bool, bf16: bool, zero_stage: int, offload_optimizer: bool, attention: str,
              loss_chunk_tokens: int | None) -> tuple[int, int, Activations, int, int]:
    """(model states, cpu per node, activations, overhead, total) in bytes."""
    states, cpu = model_states_bytes(shape.total_params, shape.largest_layer_params, gpus_per_node=gpus_per_node,
                                     nnodes=nnodes, zero_stage=zero_stage, offload_optimizer=offload_optimizer)
    act = activation_bytes(shape, tokens=micro_batch_size * seq_len, seq_len=seq_len,
                           gradient_checkpointing=gradient_checkpointing, bf16=bf16, attention=attention,
                           loss_chunk_tokens=loss_chunk_tokens)
    overhead = int(OVERHEAD_GIB * GIB + OVERHEAD_FRACTION * (states + act.total))
    return states, cpu, act, overhead, states + act.total + overhead


def _fits(shape: ModelShape, memory_gib: float, **kw: Any) -> bool:
    return _estimate(shape, **kw)[-1] <= memory_gib * GIB


def _max_seq_len(shape: ModelShape, memory_gib: float, limit: int, **kw: Any) -> int:
    """The longest sequence (<= `limit`) that fits, by bisection (memory grows with the length)."""
    kw = dict(kw)
    if not _fits(shape, memory_gib, **{**kw, "seq_len": 1}):
        return 0
    lo, hi = 1, limit
    if _fits(shape, memory_gib, **{**kw, "seq_len": hi}):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(shape, memory_gib, **{**kw, "seq_len": mid}):
            lo = mid
        else:
            hi = mid
    return lo


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if value is None or value <= 0:
            raise ConfigError(f"training.{name} must be > 0, got {value!r}")


def plan_training(model_config: Mapping[str, Any] | Any, *, gpus_per_node: int, nnodes: int, gpu_memory_gib: float,
                  block_size: int, micro_batch_size: int, gradient_checkpointing: bool, bf16: bool,
                  zero_stage: int = 3, offload_optimizer: bool = False, seq_len: int | None = None,
                  attention: str = "sdpa", loss_chunk_tokens: int | None = None, model_name: str = "",
                  notes: Sequence[str] = ()) -> Plan:
    """Memory per GPU of fine-tuning a model (config dict or PretrainedConfig) on ``nnodes`` x ``gpus_per_node``.

    `seq_len` is the longest sequence of a micro batch (default: the block size; longer is
    truncated to the block size). `attention` is ``sdpa``/``flash`` (no score matrix) or
    ``eager``; `loss_chunk_tokens` models a trainer that computes the loss in chunks.
    """
    _check_positive(gpus_per_node=gpus_per_node, nodes=nnodes, gpu_memory_gib=gpu_memory_gib, block_size=block_size,
                    micro_batch_size=micro_batch_size)
    if seq_len is not None and seq_len <= 0:
        raise ConfigError(f"seq_len must be > 0, got {seq_len}")
    shape = model_config if isinstance(model_config, ModelShape) else model_shape(model_config, model_name or "model")
    seq = min(block_size, seq_len) if seq_len else block_size
    kw = dict(gpus_per_node=gpus_per_node, nnodes=nnodes, micro_batch_size=micro_batch_size,
              gradient_checkpointing=gradient_checkpointing, bf16=bf16, zero_stage=zero_stage,
              offload_optimizer=offload_optimizer, attention=attention, loss_chunk_tokens=loss_chunk_tokens)
    states, cpu, act, overhead, total = _estimate(shape, seq_len=seq, **kw)
    fits = total <= gpu_memory_gib * GIB
    max_seq = _max_seq_len(shape, gpu_memory_gib, max(block_size, seq, 1 << 17), **kw)
    plan = Plan(
        model=model_name or shape.model_type or "model", total_params=shape.total_params,
        largest_layer_params=shape.largest_layer_params, gpus_per_node=gpus_per_node, nnodes=nnodes,
        gpu_memory_gib=float(gpu_memory_gib), block_size=block_size, seq_len=seq, micro_batch_size=micro_batch_size,
        gradient_checkpointing=gradient_checkpointing, bf16=bf16, zero_stage=zero_stage,
        offload_optimizer=offload_optimizer, model_states_gib=states / GIB, boundaries_gib=act.boundaries / GIB,
        layers_gib=act.layers / GIB, loss_gib=act.loss / GIB, activations_gib=act.total / GIB,
        overhead_gib=overhead / GIB, total_gib=total / GIB, cpu_memory_per_node_gib=cpu / GIB, fits=fits,
        max_seq_len=max_seq, notes=tuple(notes), shape=shape, attention=attention,
        loss_chunk_tokens=loss_chunk_tokens,
    )
    return replace(plan, warnings=tuple(_advice(plan, shape, kw)))


def _advice(plan: Plan, shape: ModelShape, kw: dict[str, Any]) -> list[str]:
    """What to change, each with the memory it would need (only when the plan does not fit)."""
    mem = plan.gpu_memory_gib
    if plan.fits:
        if plan.total_gib > 0.95 * mem:
            return [f"tight: {plan.total_gib:.1f} of {mem:g} GiB per GPU; a longer sequence or fragmentation may "
                    f"still run out of memory"]
        return []

    def total_with(**change: Any) -> float:
        args = {**kw, "seq_len": plan.seq_len, **change}
        return _estimate(shape, **args)[-1] / GIB

    out = [f"does not fit: needs about {plan.total_gib:.1f} GiB per GPU, {mem:g} GiB available"]
    if not plan.gradient_checkpointing:
        out.append(f"enable gradient checkpointing (training.gradient_checkpointing: true): "
                   f"{total_with(gradient_checkpointing=True):.1f} GiB")
    if plan.max_seq_len > 0 and plan.max_seq_len < plan.seq_len:
        out.append(f"reduce the block size to at most {plan.max_seq_len} tokens (training.block_size; s1.1 used "
                   f"20000); longer examples are truncated")
    elif plan.max_seq_len == 0:
        out.append("even a 1-token sequence does not fit: the model states alone are too large for these GPUs")
    if plan.micro_batch_size > 1:
        out.append(f"micro_batch_size 1 (the global batch is kept by gradient accumulation): "
                   f"{total_with(micro_batch_size=1):.1f} GiB")
    for nodes in range(plan.nnodes + 1, max(2 * plan.nnodes, plan.nnodes + 8) + 1):
        need = total_with(nnodes=nodes)
        if need <= mem:
            out.append(f"more GPUs: {nodes} nodes x {plan.gpus_per_node} GPUs (training.nodes: {nodes}): "
                       f"{need:.1f} GiB")
            break
    else:
        out.append(f"more GPUs do not help enough (activations of {plan.activations_gib:.1f} GiB per GPU do not "
                   f"shrink with more GPUs)")
    if not plan.offload_optimizer and plan.zero_stage in (1, 2, 3):
        need = total_with(offload_optimizer=True)
        _, cpu = model_states_bytes(shape.total_params, shape.largest_layer_params,
                                    gpus_per_node=plan.gpus_per_node, nnodes=plan.nnodes, zero_stage=plan.zero_stage,
                                    offload_optimizer=True)
        out.append(f"offload the optimizer states to the CPU (DeepSpeed ZeRO-Offload): {need:.1f} GiB per GPU, "
                   f"about {cpu / GIB:.0f} GiB of host memory per node, slower steps")
    if plan.zero_stage < 3:
        out.append(f"ZeRO stage 3 (training.zero_stage: 3) shards the weights too: "
                   f"{total_with(zero_stage=3):.1f} GiB")
    if plan.loss_gib > 0 and plan.loss_gib >= max(plan.layers_gib, plan.boundaries_gib) and not plan.loss_chunk_tokens:
        out.append(f"the loss over the {shape.vocab_size}-entry vocabulary is the largest item "
                   f"({plan.loss_gib:.1f} GiB): a trainer computing the cross-entropy in chunks of 4096 tokens "
                   f"would need {total_with(loss_chunk_tokens=4096):.1f} GiB")
    return out
