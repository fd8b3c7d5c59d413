"""The training memory planner: parameter counts, s1's setups, the activation formula, config files, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s1flow import plan_train as planner
from s1flow.errors import ConfigError, InputFileError
from s1flow.plan_train import (
    GIB,
    KNOWN_CONFIGS,
    activation_bytes,
    format_plan,
    main_plan_train,
    model_shape,
    plan_from_config_file,
    plan_training,
    resolve_model_config,
)

QWEN32 = KNOWN_CONFIGS["qwen/qwen2.5-32b-instruct"]
S1 = dict(gpus_per_node=8, nnodes=2, gpu_memory_gib=80, block_size=32768, micro_batch_size=1,
          gradient_checkpointing=True, bf16=True)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("name,billions", [("qwen/qwen2.5-32b-instruct", 32.8), ("qwen/qwen2.5-7b-instruct", 7.6),
                                           ("qwen/qwen2.5-14b-instruct", 14.7), ("qwen/qwen2.5-0.5b-instruct", 0.49)])
def test_parameter_counts_of_the_builtin_table(name, billions):
    total = model_shape(KNOWN_CONFIGS[name]).total_params
    assert total == pytest.approx(billions * 1e9, rel=0.02)


def test_largest_layer_is_the_embedding_for_qwen():
    shape = model_shape(QWEN32)
    assert shape.largest_layer_params == 152064 * 5120


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "talky_model_dir"])  # tied and untied output embeddings
def test_local_model_directory_gives_the_exact_count(fixture, request):
    import torch
    from deepspeed.runtime.zero.stage3 import model_to_params
    from transformers import AutoModelForCausalLM

    model_dir = request.getfixturevalue(fixture)
    cfg, source = resolve_model_config(str(model_dir))
    assert source.endswith("config.json")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    shape = model_shape(cfg)
    assert shape.total_params == sum(p.numel() for p in model.parameters())
    assert (shape.total_params, shape.largest_layer_params) == model_to_params(model)
    assert shape.tie_word_embeddings == (fixture == "tiny_model_dir")


def test_pretrained_config_objects_are_accepted():
    from transformers import LlamaConfig, Qwen2Config

    q = Qwen2Config(**{k: v for k, v in QWEN32.items() if k != "model_type"})
    assert model_shape(q).total_params == model_shape(QWEN32).total_params
    from transformers import LlamaForCausalLM

    small = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, vocab_size=100, attention_bias=True, mlp_bias=True)
    assert model_shape(small).total_params == sum(p.numel() for p in LlamaForCausalLM(small).parameters())


def test_bad_model_configs():
    with pytest.raises(ConfigError, match="hidden_size"):
        model_shape({"num_hidden_layers": 2})
    with pytest.raises(ConfigError, match="mixture-of-experts"):
        model_shape({**QWEN32, "num_experts": 8})
    with pytest.raises(ConfigError, match="positive"):
        model_shape({**QWEN32, "vocab_size": 0})


# --------------------------------------------------------------------------- s1's setups

def test_s1_setup_at_full_block_size_does_not_fit_but_its_shorter_sequences_do():
    """s1 trained at block size 32768 on 16 x 80 GB; a full-length 32768-token example does not fit
    (the full-vocabulary loss alone is 56 GiB) -- why s1.1 cut the block size to 20000. The data
    s1 trained on were shorter; up to `max_seq_len` tokens the same setup fits."""
    plan = plan_training(QWEN32, **S1)
    assert plan.total_params == pytest.approx(32.8e9, rel=0.02)
    assert not plan.fits and plan.total_gib > 80
    assert plan.loss_gib == pytest.approx(12 * 32768 * 152064 / GIB)
    assert plan.model_states_gib == pytest.approx((4 * 152064 * 5120 + 18 * plan.total_params / 16) / GIB, rel=1e-6)
    assert 8000 < plan.max_seq_len < 20000
    assert any("block size to at most" in w and "20000" in w for w in plan.warnings)
    fitting = plan_training(QWEN32, **S1, seq_len=plan.max_seq_len)
    assert fitting.fits and fitting.seq_len == plan.max_seq_len and fitting.block_size == 32768
    assert not fitting.warnings or fitting.warnings[0].startswith("tight")
    assert not plan_training(QWEN32, **S1, seq_len=plan.max_seq_len + 1).fits


def test_s1_1_block_size_fits_with_optimizer_offload():
    plan = plan_training(QWEN32, **{**S1, "block_size": 20000}, offload_optimizer=True)
    assert plan.fits
    assert plan.model_states_gib < 10 and plan.cpu_memory_per_node_gib > 100


def test_eight_gpus_without_gradient_checkpointing_does_not_fit():
    plan = plan_training(QWEN32, **{**S1, "nnodes": 1, "gradient_checkpointing": False})
    assert not plan.fits and plan.total_gib > 3 * 80
    assert plan.warnings[0].startswith("does not fit")
    text = " ".join(plan.warnings)
    assert "enable gradient checkpointing" in text and "offload" in text
    assert "block size" in text or "1-token" in text
    with_ckpt = plan_training(QWEN32, **{**S1, "nnodes": 1})
    assert with_ckpt.total_gib < plan.total_gib / 3


def test_a_small_model_fits_and_more_gpus_shrink_the_model_states():
    cfg = KNOWN_CONFIGS["qwen/qwen2.5-7b-instruct"]
    small = plan_training(cfg, **{**S1, "block_size": 4096})
    assert small.fits and small.warnings == ()
    one = plan_training(QWEN32, **{**S1, "nnodes": 1})
    four = plan_training(QWEN32, **{**S1, "nnodes": 4})
    assert four.model_states_gib < one.model_states_gib
    assert four.activations_gib == pytest.approx(one.activations_gib)


def test_memory_grows_with_sequence_and_batch():
    a = plan_training(QWEN32, **{**S1, "block_size": 8192})
    b = plan_training(QWEN32, **{**S1, "block_size": 16384})
    c = plan_training(QWEN32, **{**S1, "block_size": 8192, "micro_batch_size": 2})
    assert b.activations_gib == pytest.approx(2 * a.activations_gib, rel=1e-6)
    assert c.activations_gib == pytest.approx(b.activations_gib, rel=1e-6)
    eager = plan_training(QWEN32, **{**S1, "block_size": 8192}, attention="eager", seq_len=8192)
    assert eager.total_gib > a.total_gib


def test_bad_plan_arguments():
    with pytest.raises(ConfigError, match="gpus_per_node"):
        plan_training(QWEN32, **{**S1, "gpus_per_node": 0})
    with pytest.raises(ConfigError, match="zero_stage"):
        plan_training(QWEN32, **S1, zero_stage=5)
    with pytest.raises(ConfigError, match="attention"):
        plan_training(QWEN32, **S1, attention="ring")


def test_format_plan_is_a_readable_table():
    text = format_plan(plan_training(QWEN32, **S1, model_name="Qwen/Qwen2.5-32B-Instruct"))
    for part in ("32.76B parameters", "model states", "checkpointed layer inputs", "logits + loss",
                 "total per GPU", "fits", "NO", "longest sequence that fits", "reduce the block size"):
        assert part in text


# --------------------------------------------------------------------------- the activation formula

def _saved_bytes(layers: int, *, checkpointing: bool, tokens: int = 512):
    """Bytes autograd keeps for the backward pass of a small Qwen2 (weights excluded)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=384, num_hidden_layers=layers,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=64, tie_word_embeddings=False)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16).train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in weights:
            saved[st.data_ptr()] = st.nbytes()
        return t

    ids = torch.randint(0, 512, (1, tokens))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    return sum(saved.values()), model_shape(cfg.to_dict())


def test_layer_working_set_matches_what_autograd_saves():
    two, shape = _saved_bytes(2, checkpointing=False)
    four, _ = _saved_bytes(4, checkpointing=False)
    per_layer = (four - two) / 2
    ws = activation_bytes(shape, tokens=512, seq_len=512, gradient_checkpointing=False, bf16=True).layers
    assert ws / shape.num_layers == pytest.approx(per_layer, rel=0.10)


def test_checkpointing_keeps_one_hidden_state_per_layer():
    two, shape = _saved_bytes(2, checkpointing=True)
    four, _ = _saved_bytes(4, checkpointing=True)
    per_layer = (four - two) / 2
    assert per_layer == pytest.approx(512 * shape.hidden_size * 2, rel=0.10)


# --------------------------------------------------------------------------- config files

def test_paper_configs(repo):
    s1 = plan_from_config_file(repo / "config" / "paper" / "s1-32b.yaml")
    assert len(s1) == 1
    plan = s1[0]
    assert plan.model == "Qwen/Qwen2.5-32B-Instruct" and plan.gpus == 16 and plan.block_size == 32768
    assert plan.bf16 and plan.gradient_checkpointing and plan.zero_stage == 3 and not plan.fits
    assert any("built-in table" in n for n in plan.notes)
    s11 = plan_from_config_file(repo / "config" / "paper" / "s1.1-32b.yaml",
                                overrides={"offload_optimizer": True})[0]
    assert s11.block_size == 20000 and s11.fits


def test_missing_keys_use_the_defaults_and_say_so(tmp_path):
    cfg = _write(tmp_path / "c.yaml", "training:\n  base_model: Qwen/Qwen2.5-7B-Instruct\n  block_size: 4096\n")
    plan = plan_from_config_file(cfg)[0]
    assert plan.gpus_per_node == 8 and plan.nnodes == 1 and plan.gpu_memory_gib == 80
    assert plan.micro_batch_size == 1 and plan.gradient_checkpointing and plan.bf16 and plan.zero_stage == 3
    note = plan.notes[0]
    assert "used the defaults" in note and "gpus_per_node=8" in note and "micro_batch_size=1" in note
    assert "block_size" not in note
    empty = plan_from_config_file(_write(tmp_path / "e.yaml", "seed: 1\n"))[0]
    assert empty.model == "Qwen/Qwen2.5-32B-Instruct" and "base_model=" in empty.notes[0]


def test_other_keys_are_validated_not_planned_and_overrides_win(tmp_path):
    """Keys the plan does not read are still checked against the schema: a typo is an error."""
    typo = _write(tmp_path / "t.yaml", "training:\n  base_model: Qwen/Qwen2.5-7B\n  gpus_per_nodes: 4\n")
    with pytest.raises(ConfigError, match=r"t.yaml: config key 'training': unknown key\(s\) \['gpus_per_nodes'\]"):
        plan_from_config_file(typo)
    cfg = _write(tmp_path / "c.yaml", "training:\n  base_model: Qwen/Qwen2.5-7B\n  gpus_per_node: 4\n"
                                     "  epochs: 5\n  mem_mb: 1000\n")
    plan = plan_from_config_file(cfg, overrides={"gpus_per_node": 2, "nodes": 3, "block_size": 1024,
                                                 "gpu_memory_gib": None})[0]
    assert plan.gpus_per_node == 2 and plan.nnodes == 3 and plan.block_size == 1024 and plan.gpu_memory_gib == 80
    assert plan.total_params == pytest.approx(7.6e9, rel=0.02)


def test_local_model_directory_relative_to_the_config(tmp_path, tiny_model_dir, monkeypatch):
    """Relative to the working directory (Snakemake's) first, then to the config file's folders."""
    import shutil

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "wf"
    (root / "config").mkdir(parents=True)
    shutil.copytree(tiny_model_dir, root / "results" / "models" / "base")
    cfg = _write(root / "config" / "c.yaml", "training:\n  base_model: results/models/base\n  gpus_per_node: 2\n"
                                             "  block_size: 256\n  gpu_memory_gib: 16\n")
    plan = plan_from_config_file(cfg)[0]
    assert plan.fits and plan.total_params == model_shape(json.loads((tiny_model_dir / "config.json").read_text())
                                                          ).total_params


@pytest.mark.parametrize("text,error,match", [
    ("training: [1, 2\n", InputFileError, "not valid YAML"),
    ("- a\n- b\n", InputFileError, "YAML mapping"),
    ("training: 5\n", ConfigError, "config key 'training': expected a mapping"),
    ("training:\n  block_size: long\n", ConfigError, "config key 'training.block_size': expected integer, got 'long'"),
    ("training:\n  gradient_checkpointing: maybe\n", ConfigError, "gradient_checkpointing"),
    ("training:\n  bf16: sometimes\n", ConfigError, "bf16"),
    ("training:\n  zero_stage: 4\n", ConfigError, "zero_stage"),
    ("training:\n  gpus_per_node: 0\n", ConfigError, "CPU training"),
    ("training:\n  gpu_memory_gib: lots\n", ConfigError, "gpu_memory_gib"),
    ("training:\n  nodes: 0\n", ConfigError, "config key 'training.nodes': expected >= 1, got 0"),
    ("training:\n  base_model: results/models/nowhere\n", InputFileError, "model directory not found"),
])
def test_bad_config_files_give_clear_errors(tmp_path, text, error, match):
    with pytest.raises(error, match=match):
        plan_from_config_file(_write(tmp_path / "bad.yaml", text))


def test_missing_config_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        plan_from_config_file(tmp_path / "nope.yaml")


def test_local_model_dir_without_config_json(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(InputFileError, match="no config.json"):
        resolve_model_config(str(tmp_path / "m"))
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(InputFileError, match="unreadable model config"):
        resolve_model_config(str(tmp_path / "m"))


def test_unknown_hub_id_gives_a_clear_error(monkeypatch):
    def offline(name):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {name}")

    monkeypatch.setattr(planner, "_hub_config", offline)
    with pytest.raises(ConfigError, match="not in the built-in table .*could not load its config"):
        resolve_model_config("someone/some-model")


def test_unknown_hub_id_through_autoconfig(monkeypatch):
    monkeypatch.setattr(planner, "_hub_config", lambda name: dict(QWEN32))
    cfg, source = resolve_model_config("someone/qwen-32b-finetune")
    assert source == "transformers AutoConfig" and cfg["hidden_size"] == 5120


def test_builtin_aliases():
    for name in ("Qwen/Qwen2.5-32B", "qwen/qwen2.5-32b-instruct", "simplescaling/s1.1-32B"):
        cfg, source = resolve_model_config(name)
        assert source == "built-in table" and cfg["intermediate_size"] == 27648


# --------------------------------------------------------------------------- command line

def test_cli_exit_codes(tmp_path, capsys):
    cfg = _write(tmp_path / "c.yaml", "training:\n  base_model: Qwen/Qwen2.5-32B-Instruct\n  nodes: 2\n")
    assert main_plan_train(["--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "does not fit" in out and "reduce the block size" in out
    assert main_plan_train(["--config", str(cfg), "--block-size", "8192"]) == 0
    assert "fits" in capsys.readouterr().out
    assert main_plan_train(["--config", str(cfg), "--nodes", "1", "--block-size", "8192"]) == 1
    assert main_plan_train(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main_plan_train(["--config", str(cfg), "--gpus-per-node", "0"]) == 2
    assert main_plan_train(["--config", str(cfg), "--gpu-memory-gib", "141", "--block-size", "20000"]) == 0


def test_cli_plans_for_the_longest_sft_example_and_writes_json(tmp_path, capsys):
    import pandas as pd

    sft = tmp_path / "s1k.parquet"
    pd.DataFrame({"qhash": ["a", "b"], "text": ["x", "y"], "tokens": [9000, 12000],
                  "truncated": [False, False]}).to_parquet(sft)
    cfg = _write(tmp_path / "c.yaml", "training:\n  nodes: 2\n  block_size: 32768\n")
    out_json = tmp_path / "plan.json"
    assert main_plan_train(["--config", str(cfg), "--sft", str(sft), "--json", str(out_json)]) == 0
    assert "12000 (block size 32768)" in capsys.readouterr().out
    data = json.loads(out_json.read_text())
    assert data[0]["seq_len"] == 12000 and data[0]["fits"] is True
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"text": ["x"]}).to_parquet(bad)
    assert main_plan_train(["--config", str(cfg), "--sft", str(bad)]) == 2
    assert "tokens" in capsys.readouterr().err
