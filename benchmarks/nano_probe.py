"""Probe: what a nano model does with the multi-step questions, before and after fine-tuning.

For each model directory, on the first N questions of an eval set (greedy, transformers):

- ``p_think``: the probability that the answer starts with a thinking section
  (``<|im_start|>``) when the question comes as s1 asks it, without any request;
- ``start_copied`` / ``start_copied_asked``: how often the model, put into a thinking section
  with "Let me think.", writes the question's start digit right in its ``Start:`` line,
  without a request and with "Show your work." after the question. A small model that reads
  the question at a fixed distance from the end of the prompt fails the first;
- ``solved_asked`` / ``solved``: the share answered right with and without the request
  (400 new tokens, the last ``Answer: x`` counts).

    python benchmarks/nano_probe.py MODEL_DIR [MODEL_DIR ...] [--evalset results/evalsets/synth_steps.parquet]
                                   [--n 40] [--threads 2] [--out probe.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

REQUEST = "\n\nShow your work."
START = re.compile(r"(?:with|from|shows|number) (\d)\b")


def _prompt(question: str, suffix: str = "", assistant: str = "") -> str:
    return f"<|im_start|>user\n{question}{suffix}<|im_end|>\n<|im_start|>assistant\n{assistant}"


def probe(model_dir: str, questions: list[str], answers: list[str]) -> dict[str, float]:
    """The measures above for one model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    end = tok.convert_tokens_to_ids("<|im_end|>")
    think = tok.convert_tokens_to_ids("<|im_start|>")

    def generate(prompts: list[str], new: int) -> list[str]:
        enc = tok(prompts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=new, do_sample=False, eos_token_id=end, pad_token_id=pad)
        return [tok.decode(row[enc.input_ids.shape[1]:]) for row in out]

    with torch.no_grad():
        enc = tok([_prompt(q) for q in questions], return_tensors="pt", padding=True)
        probs = model(**enc).logits[:, -1].softmax(-1)[:, think]
    result = {"p_think": float(probs.mean())}
    starts = [m.group(1) if (m := START.search(q)) else None for q in questions]
    for key, suffix in (("start_copied", ""), ("start_copied_asked", REQUEST)):
        texts = generate([_prompt(q, suffix, "<|im_start|>think\nLet me think.") for q in questions], 60)
        got = [m.group(1) if (m := re.search(r"Start: (\d)", t)) else None for t in texts]
        result[key] = sum(g is not None and g == s for g, s in zip(got, starts, strict=True)) / len(questions)
    for key, suffix in (("solved", ""), ("solved_asked", REQUEST)):
        texts = generate([_prompt(q, suffix) for q in questions], 400)
        final = [re.findall(r"Answer: (\S+?)(?:<|$|\s)", t) for t in texts]
        result[key] = sum(bool(f) and f[-1].strip(".") == str(a) for f, a in zip(final, answers, strict=True)) \
            / len(questions)
    return {k: round(v, 3) for k, v in result.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--evalset", default="results/evalsets/synth_steps.parquet")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    ev = pd.read_parquet(args.evalset).head(args.n)
    rows = {m: probe(m, ev["question"].tolist(), ev["answer"].astype(str).tolist()) for m in args.models}
    table = pd.DataFrame(rows).T
    print(f"{args.evalset}, first {len(ev)} questions, greedy")
    print(table.to_string())
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
