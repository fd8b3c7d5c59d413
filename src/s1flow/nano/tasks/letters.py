"""Letter counting ("How many r's are in raspberry?"), spelled out word by word."""

from __future__ import annotations

from s1flow.nano.core import (
    NAMES,
    VERIFY_RATE,
    Problem,
    Rand,
    boxed,
    check,
    conclude,
    intro,
    pick_template,
)

_WORD_TEXT = (
    "raspberry strawberry mississippi bookkeeper committee balloon banana parallel accommodate "
    "necessary occurrence embarrass millennium possession assessment successful address "
    "tomorrow cinnamon broccoli coffee pepper letter butter apple hello level radar referee "
    "giraffe hippopotamus umbrella barrel carrot cherry squirrel tennessee connecticut "
    "massachusetts philippines vanilla caramel chocolate marshmallow peppermint spaghetti "
    "zucchini artichoke avocado pineapple watermelon blueberry cranberry gooseberry elderberry "
    "mulberry grapefruit tangerine persimmon pomegranate lollipop bubblegum jellybean "
    "cappuccino espresso macchiato tiramisu bookshelf keyboard notebook sunflower buttercup "
    "dandelion rhododendron chrysanthemum daffodil narcissus hibiscus magnolia eucalyptus "
    "kangaroo koala alligator crocodile armadillo chimpanzee orangutan rhinoceros "
    "caterpillar butterfly dragonfly grasshopper mosquito woodpecker hummingbird nightingale "
    "peacock flamingo pelican albatross penguin ostrich cassowary baboon raccoon "
    "assassinate possessive aggressive grammar dilemma tattoo voodoo bassoon trombone "
    "saxophone xylophone tambourine accordion harmonica mandolin ukulele clarinet piccolo "
    "referendum deterrence irresistible unnecessary misspell hullabaloo abracadabra "
    "onomatopoeia supercalifragilistic antidisestablishmentarianism floccinaucinihilipilification "
    "cheese geese sheep street bookkeeping beekeeper engineer pioneer volunteer"
)
_WORDS = tuple(_WORD_TEXT.split())
_SHORT_WORDS = tuple(w for w in _WORDS if len(w) <= 9)

_LETTER_TEMPLATES = {
    "pool": (
        "How many times does the letter '{L}' appear in \"{T}\"?",
        "Count how many times '{L}' occurs in the {kw} \"{T}\".",
        "{n} wrote down the {kw} \"{T}\". How many '{L}' letters did {n} write?",
        "How many '{L}'s are there in \"{T}\"?",
        "In \"{T}\", what is the number of occurrences of the letter '{L}'?",
    ),
    "eval": (
        "Determine the count of the character '{L}' in \"{T}\".",
        "{n} is spelling out \"{T}\" letter by letter. How often will {n} say '{L}'?",
        "Tally every '{L}' in the {kw} \"{T}\". What total do you get?",
    ),
}


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """Count one letter in a word (`d` 1-2) or a phrase of up to six words."""
    n_words = (1, 1, 2, 3, r.randint(4, 6))[d - 1]
    words = [r.choice(_SHORT_WORDS)] if d == 1 else [r.choice(_WORDS) for _ in range(n_words)]
    text = " ".join(words)
    letters = text.replace(" ", "")
    absent = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in letters]
    letter = r.choice(absent) if absent and r.chance(0.1) else r.choice(letters)
    counts = [w.count(letter) for w in words]
    truth = sum(counts)

    # the teacher's slip: miss one occurrence, or (when there is none) misread one letter
    miss_word, miss_pos, extra_word, extra_pos = -1, -1, -1, -1
    if wrong:
        if truth > 0:
            miss_word = r.choice([i for i, c in enumerate(counts) if c > 0])
            positions = [i for i, c in enumerate(words[miss_word]) if c == letter]
            miss_pos = positions[-1] if r.chance(0.7) else r.choice(positions)
        else:
            extra_word = r.randint(0, len(words) - 1)
            extra_pos = r.randint(0, len(words[extra_word]) - 1)

    n = r.choice(NAMES)
    kw = "word" if len(words) == 1 else "phrase"
    t_i, tpl = pick_template(r, _LETTER_TEMPLATES, style)
    question = tpl.format(L=letter, T=text, n=n, kw=kw)

    parts = [intro(r, d, f"count how many times '{letter}' appears in \"{text}\"")]
    if len(words) > 1:
        parts.append("I'll go word by word and spell each one out so I don't miss any.")
    seen = []
    for wi, w in enumerate(words):
        k = 0
        spelled = []
        for ci, c in enumerate(w):
            hit = (c == letter and not (wi == miss_word and ci == miss_pos)) or (
                wi == extra_word and ci == extra_pos
            )
            if hit:
                k += 1
                spelled.append(f"{c} ({k})")
            else:
                spelled.append(c)
        seen.append(k)
        line = f"\"{w}\" is spelled {'-'.join(w)}."
        if len(w) > 4 or d >= 2:
            line += f" Going letter by letter: {', '.join(spelled)}."
        line += f" That's {k} '{letter}' in \"{w}\"." if k else f" No '{letter}' in \"{w}\"."
        parts.append(line)
    value = sum(seen)
    if len(words) > 1:
        parts.append(f"Adding up: {' + '.join(map(str, seen))} = {value}.")
    if r.chance(VERIFY_RATE[d - 1]):
        wi = max(range(len(words)), key=lambda i: seen[i])
        w = words[wi]
        parts.append(check(r, f"\"{w}\""))
        if seen[wi] == counts[wi]:
            pos = [str(i + 1) for i, c in enumerate(w) if c == letter]
            if pos:
                parts.append(f"The '{letter}'s are at positions {', '.join(pos)}, so {len(pos)}. Good.")
            else:
                parts.append(f"Scanning again, there really is no '{letter}' in it.")
        else:
            parts.append(f"Scanning it again I still count {seen[wi]}. Okay.")
    correct = value == truth
    parts.append(conclude(r, str(value)))
    attempt = boxed(r, str(value), f"Counting letter by letter, '{letter}' appears {value} times.")
    return Problem(
        question, str(truth), "\n\n".join(parts), attempt, correct, "count",
        {"letter": letter, "text": text, "template": t_i},
    )  # fmt: skip
