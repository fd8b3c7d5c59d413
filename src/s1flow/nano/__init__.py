"""The offline ("nano") demo world: seeded synthetic reasoning problems, their teacher traces and eval sets.

The default configuration must run without network access, so the workflow generates its own
question pool, teacher reasoning traces and held-out evaluation sets. Every problem is
procedurally generated and actually solved: the teacher trace works the problem step by step
with real intermediate values, grows with the difficulty (1..5), and is wrong with a probability
that also grows with the difficulty.

Layout:

- :mod:`s1flow.nano.core` - what the task families share: the seeded draws (``Rand``), the
  problem record (``Problem``) and the trace phrasing helpers.
- :mod:`s1flow.nano.tasks` - one module per task family (arithmetic, letter counting, modular
  arithmetic, base conversion, gcd/lcm, sorting, linear equations, sequences, iteration,
  combinatorics, multiple choice); ``GENERATORS`` maps each domain to its generator.
- :mod:`s1flow.nano.assemble` - the outputs built from them, re-exported here:

  - :data:`DOMAINS` - domain name -> ``cot_type``.
  - :func:`generate_problem` - one problem (question, answer, trace, attempt, teacher_correct).
  - :func:`generate_eval_sets` - held-out evaluation sets (``synth_arith``, ``synth_mixed``,
    ``synth_mc``, ``synth_steps``) with columns :data:`EVAL_COLUMNS`.
  - :func:`generate_worked_solutions` - correct worked solutions of fresh problems (the
    nano base model's "knows how to reason when asked" pretraining text).
  - :func:`generate_pool` - a messy pool (exact duplicates, whitespace/case near-duplicates,
    formatting junk for s1's quality filter, planted copies of eval questions) with columns
    :data:`SYNTHETIC_POOL_COLUMNS`.
"""

from __future__ import annotations

from s1flow.nano.assemble import (
    BENCHMARK_LIKE_SOURCES,
    DOMAIN_WEIGHTS,
    DOMAINS,
    EVAL_COLUMNS,
    EVAL_SET_NAMES,
    PHRASINGS,
    SYNTHETIC_POOL_COLUMNS,
    TEACHER_ERROR_RATE,
    domain_schedule,
    generate_eval_sets,
    generate_pool,
    generate_problem,
    generate_worked_solutions,
    normalise_question,
)

__all__ = [
    "BENCHMARK_LIKE_SOURCES",
    "DOMAINS",
    "DOMAIN_WEIGHTS",
    "EVAL_COLUMNS",
    "EVAL_SET_NAMES",
    "PHRASINGS",
    "SYNTHETIC_POOL_COLUMNS",
    "TEACHER_ERROR_RATE",
    "domain_schedule",
    "generate_eval_sets",
    "generate_pool",
    "generate_problem",
    "generate_worked_solutions",
    "normalise_question",
]
