"""Running settings over questions: the shared-prefix sweep, settings one by one, rejection sampling.

Shared-prefix sweeps: with greedy decoding or position-keyed seeded sampling, the
thinking of setting (B, k) is a prefix of the thinking of (B_max, K_max) for B <= B_max and
k <= K_max: it is the (B_max, K_max) thinking up to its (k+1)-th end attempt, cut at B.
:func:`run_sweep` generates the thinking once per question to the largest setting and
then one answer phase per distinct thinking; :func:`run_settings_separately` runs each
setting on its own (as s1's harness does), for checking and benchmarking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from s1flow.conditional import strip_markers
from s1flow.errors import ConfigError
from s1flow.generate.budget import (
    BudgetForcer,
    Finish,
    Item,
    SampleResult,
    Sampling,
    Thinking,
    cut_response,
    derive,
    derive_s1,
    request_seed,
)
from s1flow.generate.setting import Rejection, Setting

log = logging.getLogger(__name__)


def _expand(items: Sequence[Item], sampling: Sampling) -> tuple[list[Item], list[int], list[int]]:
    """One entry per (item, sample) with its request seed."""
    flat, samples, seeds = [], [], []
    for item in items:
        for s in range(sampling.samples):
            flat.append(item)
            samples.append(s)
            seeds.append(request_seed(sampling.seed, item.qid, s))
    return flat, samples, seeds


def _group_key(forcer: BudgetForcer, s: Setting) -> tuple:
    """Settings with equal keys share one thinking trajectory (see :func:`run_sweep`)."""
    if forcer.compat == "s1":
        # s1's harness gives every segment min_tokens 1 once Waits are on, so a run with Waits does not
        # extend one without them; its minimum is then overridden
        waits = s.num_wait > 0
        return (waits, None if waits else s.min_thinking, s.ignore_str if waits else None, s.condition,
                s.condition_value, s.forced)
    return (s.min_thinking, s.ignore_str, s.condition, s.condition_value)


def _thinkings(forcer: BudgetForcer, asked: Sequence[Item], trajectories: Sequence[Thinking], setting: Setting,
               cap: int) -> list[tuple[list[int], Finish, list[int]]]:
    """(thinking, finish, answer suffix) of `setting` at `cap` for each trajectory of its group."""
    out = []
    segmented = forcer.compat == "s1" and setting.num_wait > 0
    ignore_len = len(forcer.ignore_ids(setting.ignore_str)) if segmented else 0
    for traj in trajectories:
        if segmented:
            tokens, finish, uncut = derive_s1(traj, cap, setting.num_wait, ignore_len)
        else:
            (tokens, finish), uncut = derive(traj, cap, setting.num_wait), None
        out.append((tokens, finish, forcer.answer_suffix(tokens, finish, uncut)))
    return out


def run_sweep(forcer: BudgetForcer, items: Sequence[Item], settings: Sequence[Setting],
              sampling: Sampling | None = None) -> list[SampleResult]:
    """Every setting for every item, sharing one thinking run per (item, sample) and settings group.

    Settings that differ only in cap and Wait count share a trajectory (run to the largest
    cap and Wait count); settings with another minimum, ignore string or condition form their
    own group, and in compat s1 so do the settings with Waits and those without. Equal
    thinkings with equal answer suffixes (e.g. every cap above a natural end) share one answer phase.
    """
    sampling = sampling or Sampling()
    _check_unique(settings)
    flat, samples, seeds = _expand(items, sampling)
    caps = {s: forcer.resolve_cap(s.cap, items) for s in settings}
    groups: dict[tuple, list[Setting]] = {}
    for s in settings:
        if not s.open:
            groups.setdefault(_group_key(forcer, s), []).append(s)
    rows: list[SampleResult] = []
    opened = [s for s in settings if s.open]
    if opened:
        # one response per (item, sample) to the largest limit; smaller limits are its prefixes
        limit = {s: caps[s] + forcer.answer_max_tokens for s in opened}
        responses = forcer.respond(flat, seeds, max_tokens=max(limit.values()), temperature=sampling.temperature)
        for s in opened:
            for j, (tokens, finish) in enumerate(responses):
                rows.append(_open_row(forcer, flat[j], s, caps[s], samples[j], *cut_response(tokens, finish, limit[s])))
    for group in groups.values():
        first = group[0]
        big_cap = max(caps[s] for s in group)
        big_wait = max(s.num_wait for s in group)
        asked = forcer.conditioned(flat, first)
        trajectories = forcer.think(asked, seeds, cap=big_cap, num_wait=big_wait, min_thinking=first.min_thinking,
                                    ignore_str=first.ignore_str, temperature=sampling.temperature,
                                    end_token=forcer.end_token(first))
        derived: dict[tuple, int] = {}
        jobs = []
        plan = []
        for s in group:
            for j, (tokens, finish, suffix) in enumerate(_thinkings(forcer, asked, trajectories, s, caps[s])):
                key = (j, len(tokens), finish, tuple(suffix))
                if key not in derived:
                    derived[key] = len(jobs)
                    jobs.append((asked[j], tokens, finish, seeds[j], suffix))
                plan.append((s, j, tokens, finish, derived[key]))
        answers = forcer.answer(jobs, temperature=sampling.temperature)
        log.info("settings group %s: %d settings, %d answer phases for %d rows", first.name, len(group), len(jobs),
                 len(plan))
        for s, j, tokens, finish, a in plan:
            rows.append(_row(forcer, flat[j], s, caps[s], samples[j], tokens, finish, answers[a]))
    return _ordered(rows, items, settings)


def run_settings_separately(forcer: BudgetForcer, items: Sequence[Item], settings: Sequence[Setting],
                            sampling: Sampling | None = None) -> list[SampleResult]:
    """Each setting as its own generation, as s1's harness runs a sweep (the reference for run_sweep)."""
    sampling = sampling or Sampling()
    _check_unique(settings)
    flat, samples, seeds = _expand(items, sampling)
    rows = []
    for s in settings:
        cap = forcer.resolve_cap(s.cap, items)
        if s.open:
            responses = forcer.respond(flat, seeds, max_tokens=cap + forcer.answer_max_tokens,
                                       temperature=sampling.temperature)
            rows += [_open_row(forcer, flat[j], s, cap, samples[j], tokens, finish)
                     for j, (tokens, finish) in enumerate(responses)]
            continue
        asked = forcer.conditioned(flat, s)
        trajectories = forcer.think(asked, seeds, cap=cap, num_wait=s.num_wait, min_thinking=s.min_thinking,
                                    ignore_str=s.ignore_str, temperature=sampling.temperature,
                                    end_token=forcer.end_token(s))
        thinkings = _thinkings(forcer, asked, trajectories, s, cap)
        jobs = [(asked[j], tokens, finish, seeds[j], suffix) for j, (tokens, finish, suffix) in enumerate(thinkings)]
        answers = forcer.answer(jobs, temperature=sampling.temperature)
        for j, (tokens, finish, _) in enumerate(thinkings):
            rows.append(_row(forcer, flat[j], s, cap, samples[j], tokens, finish, answers[j]))
    return _ordered(rows, items, settings)


def rejection_sample(forcer: BudgetForcer, items: Sequence[Item], setting: Rejection, *, max_tries: int = 16,
                     sampling: Sampling | None = None) -> list[SampleResult]:
    """s1's rejection-sampling baseline: resample the thinking until it ends on its own within the cap.

    Each try uses a fresh seed at the sampling temperature (s1: 1.0) and asks for ``B + 1``
    tokens. s1flow accepts a thinking that ended on its own within ``B`` tokens; compat s1
    accepts, as s1's harness, at most ``B`` generated tokens counting the stop token (a thinking
    of at most ``B - 1``). ``max_tries = 0`` retries without a bound, as s1 does; otherwise a
    question whose tries all overran keeps its last try, cut at the cap with the forced end
    (``finish == "cap"``).
    """
    sampling = sampling or Sampling(temperature=1.0)
    if sampling.temperature <= 0:
        raise ConfigError("rejection sampling needs a sampling temperature > 0")
    if max_tries < 0:
        raise ConfigError(f"evaluation.rejection_max_tries must be >= 0 (0: no bound), got {max_tries}")
    flat, samples, _ = _expand(items, sampling)
    b = forcer.resolve_cap(setting.cap, items)
    longest = b - 1 if forcer.compat == "s1" else b  # the longest thinking accepted
    accepted: dict[int, Thinking] = {}
    pending = list(range(len(flat)))
    attempt = 0
    while pending:
        last = max_tries > 0 and attempt == max_tries - 1
        seeds = [request_seed(sampling.seed, flat[j].qid, samples[j], attempt) for j in pending]
        # one token more than the cap, so a thinking of exactly `b` tokens can still end on its own
        tries = forcer.think([flat[j] for j in pending], seeds, cap=b + 1, num_wait=0,
                             temperature=sampling.temperature)
        left = []
        for j, t in zip(pending, tries, strict=True):
            if (t.finish == "stop" and len(t.tokens) <= longest) or last:
                accepted[j] = t
            else:
                left.append(j)
        log.info("rejection sampling try %d: %d of %d still over %d tokens", attempt + 1, len(left), len(flat),
                 longest)
        pending = left
        attempt += 1
    jobs = []
    for j in range(len(flat)):
        t = accepted[j]
        if t.finish == "cap" or len(t.tokens) > longest:
            t.tokens, t.finish = t.tokens[:b], "cap"
        jobs.append((flat[j], t.tokens, t.finish, request_seed(sampling.seed, flat[j].qid, samples[j])))
    answers = forcer.answer(jobs, temperature=sampling.temperature)
    return [_row(forcer, flat[j], setting, b, samples[j], accepted[j].tokens, accepted[j].finish, answers[j])
            for j in range(len(flat))]


def _check_unique(settings: Sequence[Setting]) -> None:
    names = [s.name for s in settings]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"sweep settings must be distinct; repeated: {dupes}")
    if not settings:
        raise ConfigError("a sweep needs at least one setting")


def _row(forcer: BudgetForcer, item: Item, setting: Setting, cap: int, sample: int, tokens: Sequence[int],
         finish: Finish, answer: tuple[str, list[int]], output: str | None = None) -> SampleResult:
    thinking = forcer.decode(tokens)
    count = len(tokens)
    if setting.markers:  # countdown markers are bookkeeping, not thinking: count the text without them
        count = forcer.count_tokens(strip_markers(thinking))
    d = forcer.delimiters
    return SampleResult(qid=item.qid, setting=setting.name, budget=cap, num_wait=setting.num_wait, sample=sample,
                        columns=setting.columns(), thinking=thinking, answer=answer[0], thinking_tokens=count,
                        finish=finish, thinking_ids=list(tokens), answer_ids=answer[1],
                        output=output if output is not None else d.think_start + thinking + d.answer_start + answer[0])


def _open_row(forcer: BudgetForcer, item: Item, setting: Setting, cap: int, sample: int, tokens: Sequence[int],
              finish: Finish) -> SampleResult:
    thinking, answer = forcer.split_response(tokens)
    return _row(forcer, item, setting, cap, sample, thinking, finish, (forcer.decode(answer), answer),
                output=forcer.decode(tokens))


def _ordered(rows: list[SampleResult], items: Sequence[Item], settings: Sequence[Setting]) -> list[SampleResult]:
    """Rows ordered by question, then setting (in the given order), then sample."""
    qpos = {it.qid: k for k, it in enumerate(items)}
    spos = {s.name: k for k, s in enumerate(settings)}
    return sorted(rows, key=lambda r: (qpos[r.qid], spos[r.setting], r.sample))
