"""The token-level protocol every generation backend implements.

A backend turns token-id prompts into continuations. It knows nothing about thinking,
answers or budgets: the budget-forcing controller (:mod:`s1flow.generate.budget`) drives it with
plain requests (max tokens, stop token ids, min tokens, temperature, seed) and reads back
the generated ids and why generation ended.

Seeded sampling is *position-keyed* where the backend supports it (the transformers
backend does): the token sampled at absolute sequence position ``p`` of a request with
seed ``s`` depends only on ``s``, ``p`` and the logits there, not on how the sequence was
split into calls. That makes a continuation of a prefix token-identical to an
uninterrupted run, which the shared-prefix sweep relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Finish = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationRequest:
    """One continuation to generate.

    ``prompt`` holds token ids. Generation ends at the first token in ``stop_token_ids``
    (which is *not* returned) or after ``max_tokens`` new tokens. Stop tokens are
    suppressed until ``min_tokens`` new tokens exist. ``temperature == 0`` is greedy.
    ``seed`` makes sampling reproducible per request.
    """

    prompt: Sequence[int]
    max_tokens: int
    stop_token_ids: tuple[int, ...] = ()
    min_tokens: int = 0
    temperature: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {self.max_tokens}")
        if self.min_tokens < 0:
            raise ValueError(f"min_tokens must be >= 0, got {self.min_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass(frozen=True)
class Generation:
    """What a backend produced for one request.

    ``tokens`` excludes the stop token; ``finish`` is ``"stop"`` when a stop token ended
    generation (``stop_token`` says which) and ``"length"`` when ``max_tokens`` did.
    """

    tokens: list[int] = field(default_factory=list)
    finish: Finish = "length"
    stop_token: int | None = None


@runtime_checkable
class Engine(Protocol):
    """A generation backend.

    ``max_token_id`` is the largest id the tokenizer can decode. Backends stop only at a
    request's ``stop_token_ids`` (never at an EOS of their own): the controller decides what
    ends generation. Model vocabularies are
    often padded past it (Qwen2.5: 152064 embedding rows, 151665 tokenizer ids); a backend
    must never emit an id above it, and the controller never feeds one back.
    """

    name: str
    max_token_id: int
    # Optional: ``eos_token_ids``, the model's end-of-sequence ids (from its generation config);
    # the budget-forcing controller stops at them and at the tokenizer's EOS.

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate every request; results are in request order."""
        ...


def check_prompt_ids(prompt: Sequence[int], max_token_id: int, *, where: str = "prompt") -> None:
    """Raise ValueError if a prompt holds an id the tokenizer does not know."""
    bad = [t for t in prompt if t < 0 or t > max_token_id]
    if bad:
        raise ValueError(f"{where}: token ids {sorted(set(bad))[:5]} are outside the tokenizer's range "
                         f"0..{max_token_id}; they must never be fed back to the model")
