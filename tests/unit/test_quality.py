import random

from s1flow.curate.quality import quality_mask, quality_ok


def notebook_filter(question: str, source: str) -> bool:
    """The released notebook's check, written out literally, as the yardstick."""
    import re

    if ("[asy]" not in question and "![Image]" not in question
            and not any(f"p{i}." in question for i in range(1, 1000))
            and not re.search(r"\*\*(?=.*\d)[^\s\]]*\*\*", question)):
        return True
    return "[asy]" in question and "AIME" in source


def test_each_marker_is_caught():
    assert quality_ok("Find x if 2x = 4.", "src")
    assert not quality_ok("See figure [asy] draw((0,0)); [/asy]", "src")
    assert quality_ok("See figure [asy] draw((0,0)); [/asy]", "qq8933/AIME_1983_2024")
    assert not quality_ok("Look at ![Image](x.png)", "src")
    assert not quality_ok("p12. Find the sum", "src")
    assert not quality_ok("**Problem3** solve", "src")
    assert not quality_ok("**bold** then 7 later", "src")
    assert quality_ok("**bold** no digits", "src")
    assert quality_ok("p1000. is not a 1..999 marker", "src")
    assert quality_ok("p0. neither", "src")


def test_regex_form_equals_notebook_loop():
    rng = random.Random(0)
    alphabet = ["p", "1", "9", "0", ".", "*", "*", " ", "a", "[asy]", "![Image]", "\n", "]", "12", "999", "1000"]
    for _ in range(3000):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        src = rng.choice(["AIME", "other"])
        assert quality_ok(q, src) == notebook_filter(q, src), q
    assert quality_mask(["ok", "p3."], ["a", "b"]).tolist() == [True, False]
