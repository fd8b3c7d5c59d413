"""Probe: what a nano model does with the multi-step questions, before and after fine-tuning.

For each model directory, on the first N questions of an eval set (greedy, transformers):

- ``p_think``: the probability that the answer starts with a thinking section
  (``<|im_start|>``) when the question comes as s1 asks it, without any request;
- ``start_copied`` / ``start_copied_asked``: how often the model, put into a thinking section
  with "Let me think.", writes the question's start digit right in its ``Start:`` line,
  without a request and with "Show your work." after the question. A small model that reads
  the question at a fixed distance from the end of the prompt fails the first;
- ``solved_asked`` / ``solved``: the share answered right with and without the request
  (400 new tokens, the last ``Answer: x`` counts);
- ``start_read_asked`` / ``count_read_asked`` / ``ends_right_asked``: with the request, how often
  the worked solution's ``Start: x, and n steps to go.`` line has the question's start digit and
  count, and how often its last ``so I end with v.`` is the right answer.

With ``--run DIR`` it reads a finished run's sweeps instead of generating: for every model's
``results/eval/<model>/<evalset>/samples.parquet`` at one setting (``--setting``, default
``cap=256``), the same reading measures on the thinking, how often the extracted answer repeats
the thinking's last ``end with`` digit (``answer_repeats_thinking``), and the accuracy.

    python benchmarks/nano_probe.py MODEL_DIR [MODEL_DIR ...] [--evalset results/evalsets/synth_steps.parquet]
                                   [--n 40] [--threads 2] [--out probe.json]
    python benchmarks/nano_probe.py --run DIR [--setting cap=256] [--out reading.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

REQUEST = "\n\nShow your work."
START = re.compile(r"(?:with|from|shows|number) (\d)\b")
COUNT = re.compile(r"(\d+) (?:times|ticks)\b")
WORKED_START = re.compile(r"Start: (\d+), and (\d+) steps to go")
ENDS_WITH = re.compile(r"end with (\d+)\.")


def reading(questions: list[str], texts: list[str], answers: list[str]) -> dict[str, float]:
    """Shares of worked solutions `texts` that read the start digit and the count of their question
    right, and that end on the right answer (the last "end with v.")."""
    n, start, count, ends = len(questions), 0, 0, 0
    for q, t, a in zip(questions, texts, answers, strict=True):
        s, c, w = START.search(q), COUNT.search(q), WORKED_START.search(t)
        start += bool(s and w and w.group(1) == s.group(1))
        count += bool(c and w and w.group(2) == c.group(1))
        ends += bool((e := ENDS_WITH.findall(t)) and e[-1] == str(a))
    return {"start_read": start / n, "count_read": count / n, "ends_right": ends / n}


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
        if suffix:
            result.update({f"{k}_asked": v for k, v in reading(questions, texts, answers).items()})
    return {k: round(v, 3) for k, v in result.items()}


def run_reading(run: Path, evalset: str, setting: str) -> dict[str, dict[str, float]]:
    """The reading measures of every model swept on `evalset` in the run directory `run`, at `setting`."""
    ev = pd.read_parquet(run / "results" / "evalsets" / f"{evalset}.parquet").set_index("id")
    out = {}
    for path in sorted((run / "results" / "eval").glob(f"*/{evalset}/samples.parquet")):
        df = pd.read_parquet(path)
        df = df[df["setting"] == setting]
        if df.empty:
            continue
        questions, answers = ev.loc[df["qid"], "question"].tolist(), ev.loc[df["qid"], "answer"].astype(str).tolist()
        row = reading(questions, df["thinking"].tolist(), answers)
        last = [(e[-1] if (e := ENDS_WITH.findall(t)) else None) for t in df["thinking"]]
        row["answer_repeats_thinking"] = float(sum(x is not None and x == str(a) for x, a in
                                                   zip(last, df["extracted"], strict=True)) / len(df))
        row["accuracy"] = float(df["correct"].mean())
        out[path.parent.parent.name] = {k: round(v, 3) for k, v in row.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--run", type=Path, help="read this run directory's sweeps instead of generating")
    ap.add_argument("--setting", default="cap=256", help="with --run: the setting to read")
    ap.add_argument("--evalset", default="results/evalsets/synth_steps.parquet")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.run:
        rows = run_reading(args.run, Path(args.evalset).stem, args.setting)
        print(f"{args.run}: {Path(args.evalset).stem}, setting {args.setting}")
        print(pd.DataFrame(rows).T.to_string())
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
        return
    if not args.models:
        ap.error("give model directories, or --run DIR")
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
