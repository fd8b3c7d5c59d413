"""The registry of s1's 16 question sources: :data:`PRESETS` (in s1's order) and :func:`get_preset`."""

from __future__ import annotations

from s1flow.curate.sources.presets.base import Preset, _single
from s1flow.curate.sources.presets.math_sources import (
    _fetch_numinamath,
    _fetch_olympiadbench,
    _normalise_aime,
    _normalise_numinamath,
    _normalise_olympiadbench,
    _normalise_omni_math,
    _normalise_openaimath,
    _normalise_s1_prob,
    _normalise_s1_teasers,
    _normalise_theoremqa,
)
from s1flow.curate.sources.presets.other_sources import (
    _fetch_livecodebench,
    _normalise_livecodebench,
    _normalise_usacobench,
    _normalise_xword,
    _select_xword,
)
from s1flow.curate.sources.presets.science_sources import (
    _fetch_agieval,
    _fetch_gpqa,
    _fetch_olympic_arena,
    _fetch_scieval,
    _normalise_agieval,
    _normalise_gpqa_extended,
    _normalise_jeebench,
    _normalise_olympic_arena,
    _normalise_scieval,
    _select_scieval,
    _select_scieval_s1,
)
from s1flow.errors import ConfigError

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "openaimath",
            "simplescaling/openaimath",
            "math",
            "MATH train (~12K; s1's qfq/openaimath), all rows; domain = subject",
            _single("simplescaling/openaimath", "train"),
            _normalise_openaimath,
        ),
        Preset(
            "olympic_arena",
            "GAIR/OlympicArena",
            "science",
            "OlympicArena 7 subjects, test+val, English text-only; Math->math, CS->coding, else science",
            _fetch_olympic_arena,
            _normalise_olympic_arena,
        ),
        Preset(
            "theoremqa",
            "TIGER-Lab/TheoremQA",
            "math",
            "TheoremQA test, rows without a picture",
            _single("TIGER-Lab/TheoremQA", "test"),
            _normalise_theoremqa,
        ),
        Preset(
            "numinamath",
            "AI-MO/NuminaMath-CoT",
            "math",
            "NuminaMath-CoT train: all aops_forum + the 500 fixed questions of simplescaling/numinamath_500",
            _fetch_numinamath,
            _normalise_numinamath,
        ),
        Preset(
            "omni_math",
            "KbsdJames/Omni-MATH",
            "math",
            "Omni-MATH test, all rows",
            _single("KbsdJames/Omni-MATH", "test"),
            _normalise_omni_math,
        ),
        Preset(
            "scieval",
            "OpenDFM/SciEval",
            "science",
            "SciEval test+validation: 250 rows with an answer, balanced over task and topic, "
            "sampled after decontamination",
            _fetch_scieval,
            _normalise_scieval,
            _select_scieval,
            _select_scieval_s1,
        ),
        Preset(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "math",
            "OlympiadBench OE/TP x maths/physics English text-only subsets",
            _fetch_olympiadbench,
            _normalise_olympiadbench,
        ),
        Preset(
            "jeebench",
            "daman1209arora/jeebench",
            "math",
            "JEEBench test, all rows (math/phy -> math, chem -> science)",
            _single("daman1209arora/jeebench", "test"),
            _normalise_jeebench,
        ),
        Preset(
            "agieval",
            "baber/agieval",
            "english",
            "AGIEval sat_en, sat_math, lsat_*, logiqa (passage+question+options), aqua_rat, math level 5",
            _fetch_agieval,
            _normalise_agieval,
        ),
        Preset(
            "s1_prob",
            "simplescaling/s1-prob",
            "math",
            "182 probability PhD-qualifier questions",
            _single("simplescaling/s1-prob", "train"),
            _normalise_s1_prob,
        ),
        Preset(
            "gpqa_extended",
            "Idavidrein/gpqa",
            "science",
            "GPQA extended minus the Diamond questions",
            _fetch_gpqa,
            _normalise_gpqa_extended,
        ),
        Preset(
            "xword",
            "0xharib/xword1",
            "crossword",
            "crossword clues with s1's instruction prefix; the first 1000 after decontamination and shuffle",
            _single("0xharib/xword1", "train"),
            _normalise_xword,
            _select_xword,
        ),
        Preset(
            "usacobench",
            "codegenning/usacobench_formatted",
            "coding",
            "USACO problems, no solution",
            _single("codegenning/usacobench_formatted", "test"),
            _normalise_usacobench,
        ),
        Preset(
            "s1_teasers",
            "simplescaling/s1-teasers",
            "math",
            "23 brain-teasers (s1's qfq/quant)",
            _single("simplescaling/s1-teasers", "train"),
            _normalise_s1_teasers,
        ),
        Preset(
            "livecodebench",
            "livecodebench/code_generation_lite",
            "coding",
            "LiveCodeBench release_v1..v3, difficulty hard, no solution",
            _fetch_livecodebench,
            _normalise_livecodebench,
        ),
        Preset(
            "aime_1983_2024",
            "qq8933/AIME_1983_2024",
            "math",
            "AIME problems of 1983-2022",
            _single("qq8933/AIME_1983_2024", "train"),
            _normalise_aime,
        ),
    )
}


def get_preset(name: str, where: str) -> Preset:
    """Return the preset called `name`; ConfigError naming `where` and the known presets otherwise."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{where}: unknown preset {name!r}; known: {sorted(PRESETS)}") from None
