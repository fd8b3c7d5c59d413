"""Tests of the 16 s1 source presets: hub calls, field mapping, filters, metadata, sampling."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest
from conftest import shared_data_dir

from s1flow.curate.pool import NORMALISED_COLUMNS, validate_normalised
from s1flow.curate.sources import presets
from s1flow.errors import ConfigError, InputFileError
from s1flow.io import read_table

datasets.disable_progress_bars()

EXPECTED_PRESETS = [
    "openaimath",
    "olympic_arena",
    "theoremqa",
    "numinamath",
    "omni_math",
    "scieval",
    "olympiadbench",
    "jeebench",
    "agieval",
    "s1_prob",
    "gpqa_extended",
    "xword",
    "usacobench",
    "s1_teasers",
    "livecodebench",
    "aime_1983_2024",
]

Rows = list[dict[str, Any]]


class FakeHub:
    """Stands in for ``datasets.load_dataset``: records each request and serves local jsonl rows.

    `tables` is one list of rows served for every request, a mapping from hub id to rows, or a
    function ``(name, split, kwargs) -> rows``.
    """

    def __init__(
        self,
        tmp_path: Path,
        tables: Rows | dict[str, Rows] | Callable[[str | None, str | None, dict], Rows],
    ):
        self.tmp_path = tmp_path
        self.tables = tables
        self.calls: list[tuple[str, str | None, str | None]] = []
        self.kwargs: list[dict[str, Any]] = []

    def __call__(self, path: str, name: str | None = None, *, split: str | None = None, **kwargs: Any) -> Any:
        self.calls.append((path, name, split))
        self.kwargs.append(kwargs)
        if isinstance(self.tables, list):
            rows = self.tables
        elif isinstance(self.tables, dict):
            rows = self.tables[path]
        else:
            rows = self.tables(name, split, kwargs)
        local = self.tmp_path / f"hub_{len(self.calls)}.jsonl"
        write_jsonl(local, rows)
        return datasets.load_dataset(
            "json", data_files=str(local), split="train", cache_dir=str(self.tmp_path / "hf_cache")
        )


def write_jsonl(path: Path, rows: Rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def run_preset(name: str, hub: FakeHub, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    preset = presets.get_preset(name, "test")
    raw = preset.fetch(hub)
    assert isinstance(raw, pd.DataFrame)
    out = preset.normalise(raw, where=f"hub:{preset.hub_id}", seed=seed)
    assert list(out.columns) == NORMALISED_COLUMNS
    if len(out):
        validate_normalised(out, name)
    return raw, out


def metadata(out: pd.DataFrame) -> list[dict[str, Any]]:
    return [json.loads(m) for m in out["metadata"]]


def assert_metadata_keys(out: pd.DataFrame, keys: Sequence[str]) -> None:
    for meta in metadata(out):
        assert set(meta) == set(keys)


# --------------------------------------------------------------------------- registry


def test_registry_has_the_16_s1_sources() -> None:
    assert list(presets.PRESETS) == EXPECTED_PRESETS
    for key, preset in presets.PRESETS.items():
        assert preset.name == key
        assert "/" in preset.hub_id
        assert preset.cot_type in ("math", "science", "coding", "crossword", "english", "health science")
        assert preset.description


def test_unknown_preset_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"config sources\[x\]: unknown preset 'nope'.*known: .*openaimath"):
        presets.get_preset("nope", "config sources[x]")


def test_presets_are_frozen() -> None:
    with pytest.raises(AttributeError):
        presets.PRESETS["openaimath"].hub_id = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- one test per preset


def test_openaimath(tmp_path: Path) -> None:
    rows = [
        {
            "problem": f"P{i}",
            "solution": f"S{i}",
            "answer": str(i),
            "subject": subj,
            "level": i,
            "unique_id": f"u{i}",
        }
        for i, subj in enumerate(["Algebra", "Geometry", "Number Theory"])
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("openaimath", hub)
    assert hub.calls == [("simplescaling/openaimath", None, "train")]
    assert out["question"].tolist() == ["P0", "P1", "P2"]
    assert out["solution"].tolist() == ["S0", "S1", "S2"]
    assert out["domain"].tolist() == ["Algebra", "Geometry", "Number Theory"]
    assert set(out["cot_type"]) == {"math"}
    assert out["source"].tolist() == [
        "qfq/openaimath/Algebra",
        "qfq/openaimath/Geometry",
        "qfq/openaimath/Number Theory",
    ]
    assert_metadata_keys(out, ["answer", "level", "unique_id"])
    assert metadata(out)[1] == {"answer": "1", "level": 1, "unique_id": "u1"}


def _olympic_arena_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    base = {
        "prompt": "p",
        "figure_urls": None,
        "answer": ["42"],
        "answer_type": "NV",
        "unit": None,
        "subject": name,
        "solution": f"sol {name} {split}",
    }
    return [
        {
            **base,
            "id": f"{name}_{split}_1",
            "problem": f"{name} {split} en",
            "language": "EN",
            "modality": "text-only",
        },
        {
            **base,
            "id": f"{name}_{split}_2",
            "problem": f"{name} {split} zh",
            "language": "ZH",
            "modality": "text-only",
        },
        {
            **base,
            "id": f"{name}_{split}_3",
            "problem": f"{name} {split} mm",
            "language": "EN",
            "modality": "multi-modal",
        },
    ]


def test_olympic_arena(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path, _olympic_arena_rows)
    raw, out = run_preset("olympic_arena", hub)
    subjects = ["Math", "Physics", "Chemistry", "Biology", "Geography", "Astronomy", "CS"]
    assert hub.calls == [("GAIR/OlympicArena", s, split) for split in ("test", "val") for s in subjects]
    assert "_subset" in raw.columns and len(raw) == 42
    # English text-only rows only: one per subject and split.
    assert len(out) == 14
    assert all(q.endswith(" en") for q in out["question"])
    assert out["question"].tolist()[:2] == ["Math test en", "Physics test en"]
    by_q = out.set_index("question")
    assert by_q.loc["Math test en", "cot_type"] == "math"
    assert by_q.loc["CS val en", "cot_type"] == "coding"
    assert by_q.loc["Biology test en", "cot_type"] == "science"
    assert by_q.loc["Chemistry val en", "source"] == "GAIR/OlympicArena/Chemistry"
    assert by_q.loc["Chemistry val en", "domain"] == "Chemistry"
    assert by_q.loc["Chemistry val en", "solution"] == "sol Chemistry val"
    assert_metadata_keys(
        out,
        ["id", "prompt", "figure_urls", "answer", "answer_type", "unit", "subject", "language", "modality"],
    )
    assert metadata(out)[0]["answer"] == ["42"]


def test_theoremqa(tmp_path: Path) -> None:
    rows = [
        {"Question": "Q1", "Answer": "1", "Answer_type": "integer", "Picture": None},
        {"Question": "Q2", "Answer": "0.5", "Answer_type": "float", "Picture": "images/q2.png"},
        {"Question": "Q3", "Answer": "True", "Answer_type": "bool", "Picture": None},
        {"Question": "Q4", "Answer": "[1, 2]", "Answer_type": "list of integer", "Picture": None},
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("theoremqa", hub)
    assert hub.calls == [("TIGER-Lab/TheoremQA", None, "test")]
    assert out["question"].tolist() == ["Q1", "Q3", "Q4"]
    assert out["solution"].tolist() == ["1", "True", "[1, 2]"]
    assert out["source"].tolist() == [
        "TIGER-Lab/TheoremQA/integer",
        "TIGER-Lab/TheoremQA/bool",
        "TIGER-Lab/TheoremQA/list of integer",
    ]
    assert out["domain"].isna().all()
    assert set(out["cot_type"]) == {"math"}
    assert metadata(out)[0] == {"Answer_type": "integer", "Picture": None}


def _numina_rows() -> Rows:
    sources = ["aops_forum"] * 3 + ["olympiads"] * 3 + ["cn_k12"] * 4
    return [
        {
            "source": s,
            "problem": f"N{i}",
            "solution": f"S{i}",
            "messages": [{"role": "user", "content": f"N{i}"}, {"role": "assistant", "content": f"S{i}"}],
        }
        for i, s in enumerate(sources)
    ]


def _numina_500_rows() -> Rows:
    """Stand-in for simplescaling/numinamath_500: two NuminaMath problems and one it lacks."""
    return [
        {"problem": p, "solution": "fixed", "source": "x", "messages": []}
        for p in ("N7", "N4", "not a NuminaMath problem")
    ]


def test_numinamath_takes_the_fixed_500(tmp_path: Path) -> None:
    hub = FakeHub(
        tmp_path, {"AI-MO/NuminaMath-CoT": _numina_rows(), "simplescaling/numinamath_500": _numina_500_rows()}
    )
    raw, out = run_preset("numinamath", hub, seed=1)
    assert hub.calls == [("AI-MO/NuminaMath-CoT", None, "train"), ("simplescaling/numinamath_500", None, "train")]
    # s1's order: the non-aops rows listed in numinamath_500 (dataset order), then every aops_forum row
    assert out["question"].tolist() == ["N4", "N7", "N0", "N1", "N2"]
    assert out["source"].tolist() == [
        "AI-MO/NuminaMath-CoT/olympiads",
        "AI-MO/NuminaMath-CoT/cn_k12",
        *["AI-MO/NuminaMath-CoT/aops_forum"] * 3,
    ]
    assert out["solution"].tolist() == ["S4", "S7", "S0", "S1", "S2"]
    assert set(out["cot_type"]) == {"math"} and out["domain"].isna().all()
    assert_metadata_keys(out, ["source", "messages"])
    assert metadata(out)[0]["messages"][1] == {"role": "assistant", "content": "S4"}
    # a fixed list, not a sample: the seed changes nothing
    norm = presets.PRESETS["numinamath"].normalise
    for seed in (0, 5):
        pd.testing.assert_frame_equal(out, norm(raw, where="x", seed=seed))


def test_numinamath_without_the_fixed_list_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presets.base, "NUMINAMATH_SAMPLE_SIZE", 3)
    raw = pd.DataFrame(_numina_rows())  # a local copy of NuminaMath-CoT alone
    norm = presets.PRESETS["numinamath"].normalise
    out = norm(raw, where="numina.jsonl", seed=1)
    aops = out[out["source"] == "AI-MO/NuminaMath-CoT/aops_forum"]
    assert aops["question"].tolist() == ["N0", "N1", "N2"]
    rest = out[out["source"] != "AI-MO/NuminaMath-CoT/aops_forum"]
    assert len(rest) == 3 and set(rest["question"]) <= {f"N{i}" for i in range(3, 10)}
    pd.testing.assert_frame_equal(out, norm(raw, where="numina.jsonl", seed=1))
    assert len({tuple(norm(raw, where="x", seed=s)["question"]) for s in range(10)}) > 1


def test_omni_math(tmp_path: Path) -> None:
    rows = [
        {
            "domain": ["Mathematics -> Algebra -> Other", "Mathematics -> Number Theory"],
            "difficulty": 6.5,
            "problem": "O1",
            "solution": "S1",
            "answer": "1",
            "source": "imo",
        },
        {
            "domain": ["Mathematics -> Geometry -> Plane"],
            "difficulty": 3.0,
            "problem": "O2",
            "solution": "S2",
            "answer": "2",
            "source": "usamo",
        },
        {"domain": [], "difficulty": 1.0, "problem": "O3", "solution": "S3", "answer": "3", "source": "x"},
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("omni_math", hub)
    assert hub.calls == [("KbsdJames/Omni-MATH", None, "test")]
    assert out["question"].tolist() == ["O1", "O2", "O3"]
    assert out["solution"].tolist() == ["S1", "S2", "S3"]
    assert out["domain"].tolist() == [
        "Mathematics -> Algebra -> Other",
        "Mathematics -> Geometry -> Plane",
        None,
    ]
    assert set(out["source"]) == {"KbsdJames/Omni-MATH"} and set(out["cot_type"]) == {"math"}
    assert_metadata_keys(out, ["domain", "difficulty", "answer", "source"])
    assert metadata(out)[0]["domain"] == ["Mathematics -> Algebra -> Other", "Mathematics -> Number Theory"]


def _scieval_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    def row(
        i: int, task: str, category: str, qtype: str, topic: str | None, answer: list | None, q: str
    ) -> dict:
        return {
            "id": f"{split}-{i}",
            "question": q,
            "answer": answer,
            "category": category,
            "topic": topic,
            "ability": "Knowledge Application",
            "type": qtype,
            "task_name": task,
        }

    if split == "test":
        return [
            *(
                row(
                    i,
                    "SocraticQA",
                    "physics",
                    "multiple-choice",
                    "Optics",
                    ["A"],
                    f"Socratic optics {i}\n\nAnswer:",
                )
                for i in range(3)
            ),
            *(
                row(
                    i + 3,
                    "SocraticQA",
                    "chemistry",
                    "multiple-choice",
                    "Bonds",
                    ["B"],
                    f"Socratic bonds {i}\n\nAnswer:",
                )
                for i in range(3)
            ),
            *(
                row(i + 6, "MedQA", "biology", "multiple-choice", None, ["C"], f"Med {i}\n\nAnswer:")
                for i in range(3)
            ),
            row(9, "MedQA", "biology", "multiple-choice", None, None, "Med without answer\n\nAnswer:"),
        ]
    return [
        *(row(i, "PubMedQA", "biology", "judge", None, ["yes"], f"PubMed {i}\n\nAnswer:") for i in range(2)),
        *(
            row(
                i + 2,
                "reagent selection",
                "chemistry",
                "filling",
                None,
                ["CO"],
                f"Reagents {i}\nOptimal solvent:",
            )
            for i in range(2)
        ),
    ]


def test_scieval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = FakeHub(tmp_path, _scieval_rows)
    raw, out = run_preset("scieval", hub, seed=3)
    assert hub.calls == [("OpenDFM/SciEval", None, "test"), ("OpenDFM/SciEval", None, "validation")]
    # normalise keeps every row with an answer; the pool stage samples after decontamination
    assert len(raw) == 14 and len(out) == 13
    assert "Med without answer" not in out["question"].tolist()
    assert not out["question"].str.contains("Answer:").any()
    tasks = out["source"].str.rsplit("/", n=1).str[1]
    reagents = out[tasks == "reagent selection"]
    assert all(q.endswith("\nWhat is the optimal solvent?") for q in reagents["question"])
    assert set(reagents["source"]) == {"OpenDFM/SciEval/chemistry/filling/reagent selection"}
    assert set(reagents["solution"]) == {"CO"}
    cot = dict(zip(tasks, out["cot_type"], strict=True))
    assert cot == {
        "SocraticQA": "science",
        "reagent selection": "science",
        "MedQA": "health science",
        "PubMedQA": "health science",
    }
    assert set(out[tasks == "MedQA"]["domain"]) == {"biology"}
    assert_metadata_keys(out, ["id", "topic", "ability", "type", "task_name"])
    # rows 0-2 optics, 3-5 bonds (SocraticQA), 6-8 MedQA, 9-10 PubMedQA, 11-12 reagent selection
    preset = presets.PRESETS["scieval"]
    monkeypatch.setattr(presets.base, "SCIEVAL_SAMPLE_SIZE", 8)
    # balanced: round-robin over the tasks (sorted), within SocraticQA over its topics
    assert preset.selection("balanced")(out).tolist() == [0, 3, 6, 7, 9, 10, 11, 12]
    # s1's walk: quota 2 per task, 1 per topic value (Optics, Bonds, null); a topic pick also
    # spends SocraticQA's quota, and a row is taken again while its task has quota
    assert preset.selection("s1")(out).tolist() == [0, 0, 3, 6, 6, 7, 9, 10]
    monkeypatch.setattr(presets.base, "SCIEVAL_SAMPLE_SIZE", 3)
    # quota 1 per task and topic: the picks step from 2 to 4, so the walk runs to the end
    assert preset.selection("s1")(out).tolist() == [0, 3, 6, 6, 9, 11]
    assert preset.selection("s1")(out.iloc[:0]).tolist() == []


def _olympiadbench_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    qtype = {"OE": "Open-ended", "TP": "Theorem proof"}[name[:2]]
    subject = "Math" if "maths" in name else "Physics"
    return [
        {
            "id": 100 + i,
            "question": f"{name} q{i}",
            "solution": [f"{name} s{i}", "second solution"],
            "final_answer": [str(i)] if qtype == "Open-ended" else None,
            "context": None,
            "image_1": None,
            "modality": "Text-only",
            "difficulty": "Competition",
            "is_multiple_answer": False,
            "unit": None,
            "answer_type": "Numerical" if qtype == "Open-ended" else None,
            "error": None,
            "question_type": qtype,
            "subfield": "Algebra" if subject == "Math" else "Mechanics",
            "subject": subject,
            "language": "English",
        }
        for i in range(2)
    ]


def test_olympiadbench(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path, _olympiadbench_rows)
    raw, out = run_preset("olympiadbench", hub)
    subsets = ["OE_TO_maths_en_COMP", "OE_TO_physics_en_COMP", "TP_TO_maths_en_COMP", "TP_TO_physics_en_COMP"]
    assert hub.calls == [("Hothan/OlympiadBench", s, "train") for s in subsets]
    assert sorted(set(raw["_subset"])) == subsets
    assert len(out) == 8
    assert out["question"].tolist()[:2] == ["OE_TO_maths_en_COMP q0", "OE_TO_maths_en_COMP q1"]
    assert out["solution"].tolist()[0] == "OE_TO_maths_en_COMP s0"  # the first worked solution
    assert out["source"].drop_duplicates().tolist() == [
        "Hothan/OlympiadBench/Open-ended/Math",
        "Hothan/OlympiadBench/Open-ended/Physics",
        "Hothan/OlympiadBench/Theorem proof/Math",
        "Hothan/OlympiadBench/Theorem proof/Physics",
    ]
    assert out["domain"].drop_duplicates().tolist() == ["Algebra", "Mechanics"]
    assert set(out["cot_type"]) == {"math"}
    keys = set(_olympiadbench_rows("OE_TO_maths_en_COMP", "train", {})[0]) - {
        "question",
        "solution",
        "subfield",
    }
    assert_metadata_keys(out, sorted(keys))
    # A local copy: no _subset, no question_type/subject; the subset comes from the file name.
    local = raw[raw["_subset"] == "TP_TO_physics_en_COMP"].drop(
        columns=["_subset", "question_type", "subject"]
    )
    norm = presets.PRESETS["olympiadbench"].normalise
    assert set(norm(local, where="data/olympiadbench_TP_TO_physics_en_COMP.jsonl", seed=0)["source"]) == {
        "Hothan/OlympiadBench/Theorem proof/Physics"
    }
    assert set(norm(local, where="data/olympiadbench.jsonl", seed=0)["source"]) == {
        "Hothan/OlympiadBench/Open-ended/Math"
    }


def test_jeebench(tmp_path: Path) -> None:
    rows = [
        {
            "description": "JEE Adv 2016 Paper 1",
            "index": i,
            "subject": subj,
            "type": "MCQ",
            "question": f"J{i}",
            "gold": g,
        }
        for i, (subj, g) in enumerate([("math", "A"), ("phy", "BC"), ("chem", "4")])
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("jeebench", hub)
    assert hub.calls == [("daman1209arora/jeebench", None, "test")]
    assert out["question"].tolist() == ["J0", "J1", "J2"]
    assert out["solution"].tolist() == ["A", "BC", "4"]
    assert out["cot_type"].tolist() == ["math", "math", "science"]
    assert out["domain"].tolist() == ["math", "phy", "chem"]
    assert out["source"].tolist() == [
        "daman1209arora/jeebench/math",
        "daman1209arora/jeebench/phy",
        "daman1209arora/jeebench/chem",
    ]
    assert metadata(out)[2] == {"description": "JEE Adv 2016 Paper 1", "index": 2, "type": "MCQ"}


def test_jeebench_unknown_subject_raises(tmp_path: Path) -> None:
    raw = pd.DataFrame({"question": ["q"], "gold": ["A"], "subject": ["bio"]})
    with pytest.raises(InputFileError, match="f.json.*'bio'"):
        presets.PRESETS["jeebench"].normalise(raw, where="f.json", seed=0)


AGIEVAL_CONFIGS = [
    "sat_en",
    "sat_math",
    "lsat_ar",
    "lsat_lr",
    "lsat_rc",
    "logiqa",
    "aqua_rat",
    "math_agieval",
]


def _agieval_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    if name == "math_agieval":
        return [
            {
                "question": f"math {split} L{lv}",
                "answer": str(lv),
                "solution": f"sol L{lv}",
                "level": lv,
                "type": "Algebra",
            }
            for lv in (5, 3)
        ]
    if name == "aqua_rat":
        return [
            {
                "question": f"aqua {split}",
                "options": ["(A)1", "(B)2"],
                "label": "A",
                "solution": "aqua sol",
            }
        ]
    return [
        {
            "passage": f"  Passage of {name}.  " if name != "sat_math" else "",
            "question": f"{name} {split}?",
            "options": ["(A)yes", "(B)no"],
            "label": "B",
            "solution": None if name.startswith("lsat") or name == "logiqa" else f"{name} sol",
        }
    ]


def test_agieval(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path, _agieval_rows)
    raw, out = run_preset("agieval", hub)
    assert hub.calls == [("baber/agieval", c, s) for c in AGIEVAL_CONFIGS for s in ("test", "few_shot")]
    assert len(raw) == 6 * 2 + 2 + 4
    # math_agieval keeps level 5 only.
    math_rows = out[out["source"] == "baber/agieval/math_agieval"]
    assert math_rows["question"].tolist() == ["math test L5", "math few_shot L5"]
    assert set(math_rows["solution"]) == {"sol L5"}
    assert len(out) == 6 * 2 + 2 + 2
    by_q = {s: grp for s, grp in out.groupby("source")}
    lsat = by_q["baber/agieval/lsat_ar"].iloc[0]
    # s1's exact text: stripped passage, directly followed by question, then the options.
    assert lsat["question"] == "Passage of lsat_ar.lsat_ar test?\n(A)yes\n(B)no"
    assert lsat["solution"] is None
    assert lsat["cot_type"] == "english"
    assert by_q["baber/agieval/sat_math"].iloc[0]["question"] == "sat_math test?\n(A)yes\n(B)no"
    assert by_q["baber/agieval/aqua_rat"].iloc[0]["question"] == "aqua test"
    cot = {s.rsplit("/", 1)[1]: set(g["cot_type"]) for s, g in by_q.items()}
    assert cot == {
        "sat_en": {"english"},
        "sat_math": {"math"},
        "lsat_ar": {"english"},
        "lsat_lr": {"english"},
        "lsat_rc": {"english"},
        "logiqa": {"math"},
        "aqua_rat": {"math"},
        "math_agieval": {"math"},
    }
    assert out["domain"].isna().all()
    meta = dict(zip(out["source"], metadata(out), strict=False))
    assert meta["baber/agieval/lsat_ar"] == {"label": "B"}
    assert meta["baber/agieval/aqua_rat"] == {"options": ["(A)1", "(B)2"], "label": "A"}
    assert meta["baber/agieval/math_agieval"] == {"answer": "5", "level": 5, "type": "Algebra"}


def test_agieval_local_file_names_the_config(tmp_path: Path) -> None:
    v1 = [
        {
            "passage": "P.",
            "question": "Q?",
            "options": ["(A)a", "(B)b"],
            "label": "A",
            "answer": None,
            "other": None,
        },
    ]
    raw = read_table(write_jsonl(tmp_path / "lsat-ar.jsonl", v1))
    norm = presets.PRESETS["agieval"].normalise
    out = norm(raw, where=str(tmp_path / "lsat-ar.jsonl"), seed=0)
    assert out["source"].tolist() == ["baber/agieval/lsat_ar"]
    assert out["question"].tolist() == ["P.Q?\n(A)a\n(B)b"]
    assert out["cot_type"].tolist() == ["english"]
    math_v1 = [
        {
            "passage": None,
            "question": f"M{lv}",
            "options": None,
            "label": None,
            "answer": "1",
            "other": {"solution": f"sol{lv}", "level": lv, "type": "Algebra"},
        }
        for lv in (5, 2)
    ]
    out = norm(
        read_table(write_jsonl(tmp_path / "math.jsonl", math_v1)), where=str(tmp_path / "math.jsonl"), seed=0
    )
    assert out["question"].tolist() == ["M5"] and out["solution"].tolist() == ["sol5"]
    assert out["source"].tolist() == ["baber/agieval/math_agieval"]
    # An explicit _subset column wins over the file name.
    out = norm(raw.assign(_subset="logiqa"), where="whatever.jsonl", seed=0)
    assert out["source"].tolist() == ["baber/agieval/logiqa"]
    assert out["cot_type"].tolist() == ["math"]
    with pytest.raises(InputFileError, match="whatever.jsonl.*_subset"):
        norm(raw, where="whatever.jsonl", seed=0)
    with pytest.raises(InputFileError, match="unknown agieval subset"):
        norm(raw.assign(_subset="gaokao"), where="x.jsonl", seed=0)


def test_s1_prob(tmp_path: Path) -> None:
    rows = [{"question": f"Prob {i}", "solution": f"Sol {i}", "metadata": f"exam {i}"} for i in range(3)]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("s1_prob", hub)
    assert hub.calls == [("simplescaling/s1-prob", None, "train")]
    assert out["question"].tolist() == ["Prob 0", "Prob 1", "Prob 2"]
    assert out["solution"].tolist() == ["Sol 0", "Sol 1", "Sol 2"]
    assert set(out["source"]) == {"qfq/stats_qual"} and set(out["cot_type"]) == {"math"}
    assert metadata(out)[0] == {"metadata": "exam 0"}


def _gpqa_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    def row(q: str, sub: str, dom: str) -> dict:
        return {
            "Question": q,
            "Correct Answer": "c",
            "Incorrect Answer 1": "i1",
            "Incorrect Answer 2": "i2",
            "Incorrect Answer 3": "i3",
            "Explanation": f"because {q}",
            "Subdomain": sub,
            "High-level domain": dom,
            "Record ID": f"rec-{q}",
        }

    if name == "gpqa_extended":
        return [
            row("E1", "Organic Chemistry", "Chemistry"),
            row("D1", "Genetics", "Biology"),
            row("E2", "Optics", "Physics"),
        ]
    return [row("D1", "Genetics", "Biology"), row("D2", "Astrophysics", "Physics")]


def test_gpqa_extended(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path, _gpqa_rows)
    raw, out = run_preset("gpqa_extended", hub)
    assert hub.calls == [
        ("Idavidrein/gpqa", "gpqa_extended", "train"),
        ("Idavidrein/gpqa", "gpqa_diamond", "train"),
    ]
    assert len(raw) == 5
    assert out["question"].tolist() == ["E1", "E2"]  # D1 is in diamond; diamond rows are not taken
    assert out["solution"].tolist() == ["because E1", "because E2"]
    assert out["domain"].tolist() == ["Organic Chemistry", "Optics"]
    assert set(out["cot_type"]) == {"science"} and set(out["source"]) == {"Idavidrein/gpqa"}
    assert_metadata_keys(
        out,
        [
            "Correct Answer",
            "Incorrect Answer 1",
            "Incorrect Answer 2",
            "Incorrect Answer 3",
            "High-level domain",
            "Record ID",
        ],
    )


def test_xword(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presets.base, "XWORD_SAMPLE_SIZE", 3)
    rows = [
        {
            "instruction": "Solve this crossword",
            "input": f"### Clue: Clue number {i} ({i + 3})",
            "output": f"ANS{i}",
        }
        for i in range(6)
    ]
    hub = FakeHub(tmp_path, rows)
    raw, out = run_preset("xword", hub, seed=7)
    assert hub.calls == [("0xharib/xword1", None, "train")]
    prefix = (
        "Solve the crossword puzzle. You are presented with a clue as input "
        "and the number of letters in brackets.\n\n"
    )
    # every clue, in file order; the first XWORD_SAMPLE_SIZE of the shuffled survivors are
    # taken by the pool stage
    assert out["question"].tolist() == [f"{prefix}Clue number {i} ({i + 3})" for i in range(6)]
    assert out["solution"].tolist() == [f"ANS{i}" for i in range(6)]
    assert set(out["cot_type"]) == {"crossword"} and set(out["source"]) == {"0xharib/xword1"}
    assert_metadata_keys(out, ["instruction"])
    preset = presets.PRESETS["xword"]
    assert preset.selection("balanced")(out).tolist() == [0, 1, 2]
    assert preset.selection("s1")(out).tolist() == [0, 1, 2]
    assert preset.selection("s1")(out.iloc[:2]).tolist() == [0, 1]


def test_usacobench(tmp_path: Path) -> None:
    rows = [
        {"question": f"  USACO problem {i}\n", "problem_id": f"p{i}", "num_tests": 10 + i} for i in range(3)
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("usacobench", hub)
    assert hub.calls == [("codegenning/usacobench_formatted", None, "test")]
    assert out["question"].tolist() == ["USACO problem 0", "USACO problem 1", "USACO problem 2"]
    assert out["solution"].isna().all()
    assert set(out["cot_type"]) == {"coding"} and set(out["source"]) == {"codegenning/usacobench_formatted"}
    assert metadata(out)[1] == {"problem_id": "p1", "num_tests": 11}


def test_s1_teasers(tmp_path: Path) -> None:
    rows = [{"Question": f" Teaser {i} ", "Answer": f"{i}", "Source": "quant interview"} for i in range(3)]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("s1_teasers", hub)
    assert hub.calls == [("simplescaling/s1-teasers", None, "train")]
    assert out["question"].tolist() == ["Teaser 0", "Teaser 1", "Teaser 2"]
    assert out["solution"].tolist() == ["0", "1", "2"]
    assert set(out["source"]) == {"qfq/quant"} and set(out["cot_type"]) == {"math"}
    assert_metadata_keys(out, ["Source"])


def _livecodebench_rows(name: str | None, split: str | None, kwargs: dict) -> Rows:
    tag = {"test.jsonl": "v1", "test2.jsonl": "v2", "test3.jsonl": "v3"}[kwargs["data_files"]]
    return [
        {
            "question_title": f"{tag}-{d}",
            "question_content": f"\n{tag} {d} problem  ",
            "platform": "atcoder",
            "question_id": f"{tag}{d}",
            "contest_id": "abc300",
            "contest_date": "2023-05-01T00:00:00",
            "starter_code": "",
            "difficulty": d,
            "public_test_cases": "[]",
            "private_test_cases": "eJw=",
            "metadata": "{}",
        }
        for d in ("easy", "medium", "hard")
    ]


def test_livecodebench(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path, _livecodebench_rows)
    raw, out = run_preset("livecodebench", hub)
    assert hub.calls == [("livecodebench/code_generation_lite", None, "train")] * 3
    assert [k["data_files"] for k in hub.kwargs] == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert len(raw) == 9
    assert out["question"].tolist() == ["v1 hard problem", "v2 hard problem", "v3 hard problem"]
    assert out["source"].tolist() == [
        "LiveCodeBench/release_v1",
        "LiveCodeBench/release_v2",
        "LiveCodeBench/release_v3",
    ]
    assert out["solution"].isna().all() and set(out["cot_type"]) == {"coding"}
    keys = set(_livecodebench_rows(None, None, {"data_files": "test.jsonl"})[0]) - {"question_content"}
    assert_metadata_keys(out, sorted(keys))
    assert metadata(out)[0]["difficulty"] == "hard"


def test_aime(tmp_path: Path) -> None:
    rows = [
        {
            "ID": f"{y}-{n}",
            "Year": y,
            "Problem Number": n,
            "Question": f"AIME {y} {n}",
            "Answer": str(n),
            "Part": p,
        }
        for y, n, p in [(1983, 1, None), (2022, 15, "II"), (2023, 1, "I"), (2024, 2, "I")]
    ]
    hub = FakeHub(tmp_path, rows)
    _, out = run_preset("aime_1983_2024", hub)
    assert hub.calls == [("qq8933/AIME_1983_2024", None, "train")]
    assert out["question"].tolist() == ["AIME 1983 1", "AIME 2022 15"]
    assert out["solution"].tolist() == ["1", "15"]
    assert set(out["source"]) == {"qq8933/AIME_1983_2024"} and set(out["cot_type"]) == {"math"}
    assert metadata(out)[1] == {"ID": "2022-15", "Year": 2022, "Problem Number": 15, "Part": "II"}


# --------------------------------------------------------------------------- missing columns

MISSING_COLUMN_CASES = [
    ("openaimath", {"problem": "p", "subject": "Algebra"}, "solution"),
    ("openaimath", {"text": "p"}, "problem"),
    ("olympic_arena", {"problem": "p", "language": "EN", "subject": "Math"}, "modality"),
    ("theoremqa", {"Question": "q", "Answer": "1"}, "Picture"),
    ("numinamath", {"problem": "p", "solution": "s"}, "source"),
    ("omni_math", {"problem": "p"}, "solution"),
    ("scieval", {"question": "q", "answer": ["A"], "category": "c", "type": "t"}, "task_name"),
    ("olympiadbench", {"question": "q"}, "solution"),
    ("jeebench", {"question": "q", "subject": "math"}, "gold"),
    ("agieval", {"passage": "p", "options": ["(A)a"], "_subset": "sat_en"}, "question"),
    ("agieval", {"question": "q", "_subset": "lsat_ar"}, "passage"),
    ("s1_prob", {"question": "q"}, "solution"),
    ("gpqa_extended", {"Question": "q"}, "Explanation"),
    ("xword", {"input": "### Clue: c (3)"}, "output"),
    ("usacobench", {"prompt": "q"}, "question"),
    ("s1_teasers", {"Question": "q"}, "Answer"),
    ("livecodebench", {"question_content": "q"}, "difficulty"),
    ("aime_1983_2024", {"Question": "q", "Answer": "1"}, "ID"),
]


@pytest.mark.parametrize(
    ("name", "row", "column"), MISSING_COLUMN_CASES, ids=[f"{c[0]}-{c[2]}" for c in MISSING_COLUMN_CASES]
)
def test_missing_column_raises(name: str, row: dict, column: str) -> None:
    raw = pd.DataFrame([row])
    with pytest.raises(InputFileError) as excinfo:
        presets.PRESETS[name].normalise(raw, where="data/my_copy.jsonl", seed=0)
    message = str(excinfo.value)
    assert message.startswith("data/my_copy.jsonl:")
    assert f"'{column}'" in message


def test_every_preset_has_a_missing_column_case() -> None:
    assert {c[0] for c in MISSING_COLUMN_CASES} == set(EXPECTED_PRESETS)


# --------------------------------------------------------------------------- real local copies


def shared_data() -> Path:
    d = shared_data_dir()
    if d is None or not (d / "pool").is_dir():
        pytest.skip("public data not found at ../shared/data (set S1FLOW_SHARED_DATA to its location)")
    return d


def normalise_file(preset: str, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = read_table(path)
    out = presets.get_preset(preset, "test").normalise(raw, where=str(path), seed=0)
    assert list(out.columns) == NORMALISED_COLUMNS
    validate_normalised(out, str(path))
    for meta in out["metadata"]:
        assert isinstance(json.loads(meta), dict)
    return raw, out


@pytest.mark.realdata
def test_real_theoremqa() -> None:
    raw, out = normalise_file("theoremqa", shared_data() / "pool" / "theoremqa_test.json")
    assert len(raw) == 800
    assert len(out) == int(raw["Picture"].isna().sum()) == 747
    # Same per-Answer_type counts as TheoremQA in s1's released 59K pool.
    assert out["source"].value_counts().to_dict() == {
        "TIGER-Lab/TheoremQA/float": 360,
        "TIGER-Lab/TheoremQA/integer": 200,
        "TIGER-Lab/TheoremQA/bool": 112,
        "TIGER-Lab/TheoremQA/list of integer": 51,
        "TIGER-Lab/TheoremQA/option": 16,
        "TIGER-Lab/TheoremQA/list of float": 8,
    }
    assert out["domain"].notna().all() and out["solution"].notna().all()
    assert {"field", "theorem", "id", "Answer_type"} <= set(json.loads(out["metadata"].iloc[0]))


@pytest.mark.realdata
def test_real_jeebench() -> None:
    raw, out = normalise_file("jeebench", shared_data() / "pool" / "jeebench_dataset_450.json")
    assert len(raw) == len(out) == 450
    assert (out.loc[out["domain"] == "chem", "cot_type"] == "science").all()
    assert (out.loc[out["domain"] != "chem", "cot_type"] == "math").all()
    assert out["cot_type"].value_counts().to_dict() == {"math": 311, "science": 139}
    assert out["source"].value_counts()["daman1209arora/jeebench/chem"] == 139


@pytest.mark.realdata
def test_real_olympiadbench() -> None:
    raw, out = normalise_file(
        "olympiadbench", shared_data() / "pool" / "olympiadbench_OE_TO_maths_en_COMP.jsonl"
    )
    assert len(raw) == len(out) == 675
    assert set(out["source"]) == {"Hothan/OlympiadBench/Open-ended/Math"}
    assert out["solution"].tolist()[0] == raw["solution"].iloc[0][0]
    assert out["domain"].notna().all()


@pytest.mark.realdata
def test_real_math_test_with_openaimath_preset() -> None:
    raw, out = normalise_file("openaimath", shared_data() / "pool" / "math_test_5000.csv")
    assert len(raw) == len(out) == 5000
    assert out["question"].tolist() == raw["Question"].tolist()
    assert out["solution"].tolist() == raw["Answer"].tolist()
    assert set(out["source"]) == {"qfq/openaimath"}


AGIEVAL_V1 = {
    "aqua-rat.jsonl": ("aqua_rat", 254, "math"),
    "logiqa-en.jsonl": ("logiqa", 651, "math"),
    "lsat-ar.jsonl": ("lsat_ar", 230, "english"),
    "lsat-lr.jsonl": ("lsat_lr", 510, "english"),
    "lsat-rc.jsonl": ("lsat_rc", 269, "english"),
    "math.jsonl": ("math_agieval", None, "math"),
    "sat-en.jsonl": ("sat_en", 206, "english"),
    "sat-math.jsonl": ("sat_math", 220, "math"),
}


@pytest.mark.realdata
@pytest.mark.parametrize("file_name", sorted(AGIEVAL_V1))
def test_real_agieval_v1(file_name: str) -> None:
    config, rows, cot_type = AGIEVAL_V1[file_name]
    raw, out = normalise_file("agieval", shared_data() / "pool" / "agieval_v1" / file_name)
    if config == "math_agieval":
        levels = [o["level"] for o in raw["other"]]
        assert len(raw) == 1000 and len(out) == levels.count(5) == 256
    else:
        assert len(raw) == len(out) == rows
    assert set(out["source"]) == {f"baber/agieval/{config}"}
    assert set(out["cot_type"]) == {cot_type}
    if config in ("lsat_ar", "lsat_lr", "lsat_rc", "logiqa", "sat_en", "sat_math"):
        first = raw.iloc[0]
        assert out["question"].iloc[0].endswith(first["question"] + "\n" + "\n".join(first["options"]))
