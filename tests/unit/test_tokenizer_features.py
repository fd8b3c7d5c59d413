import hashlib

import pandas as pd
import pytest

from s1flow.curate.features import build_features, feature_columns
from s1flow.curate.pool import question_hash, with_qhash
from s1flow.curate.tokenizer import count_tokens, load_tokenizer, train_bpe_tokenizer
from s1flow.errors import InputFileError


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    texts = [f"question {i}: how many r are in raspberry {i * 7}?" for i in range(500)]
    train_bpe_tokenizer(texts, d, vocab_size=400)
    return load_tokenizer(d)


def test_qwen2_vocab_merges_gives_real_ids(shared_data):
    qwen = shared_data / "tokenizer" / "qwen2"
    for tok in (load_tokenizer(qwen), load_tokenizer(vocab=str(qwen / "vocab.json"),
                                                     merges=str(qwen / "merges.txt"))):
        assert tok.encode("<|im_start|>hello<|im_end|>", add_special_tokens=False).ids == [151644, 14990, 151645]
        assert tok.token_to_id("<|endoftext|>") == 151643
        assert count_tokens(tok, ["hello", None]).tolist() == [1, -1]


def test_trained_tokenizer_is_deterministic(tmp_path):
    texts = [f"sum of {i} and {i + 1} is {2 * i + 1}" for i in range(300)]
    digests = set()
    for k in range(2):
        train_bpe_tokenizer(texts, tmp_path / str(k), vocab_size=350)
        digests.add(hashlib.sha256((tmp_path / str(k) / "tokenizer.json").read_bytes()).hexdigest())
    assert len(digests) == 1
    tok = load_tokenizer(tmp_path / "0")
    assert tok.token_to_id("<|im_start|>") is not None and tok.token_to_id("<|fim_pad|>") is not None


def test_tokenizer_errors(tmp_path):
    with pytest.raises(InputFileError, match="neither tokenizer.json nor vocab.json"):
        load_tokenizer(tmp_path)
    with pytest.raises(InputFileError, match="given together"):
        load_tokenizer(vocab=str(tmp_path / "v.json"))


def _pool():
    raw = pd.DataFrame({
        "question": ["q one", "q two p1. junk", "q three"],
        "solution": ["s1 text here", None, "s3"],
        "cot_type": "math", "source": ["A", "B", "B"], "metadata": "{}", "domain": ["alg", None, None],
    })
    return with_qhash(raw)


def test_features_merge_labels_count_tokens_and_filter(small_tokenizer):
    pool = _pool()
    h = pool["qhash"].tolist()
    teacher = pd.DataFrame({"qhash": h[:2], "trace": ["how many r are in raspberry", "x"],
                            "attempt": ["3", "4"], "teacher_correct": [True, False]})
    user = pd.DataFrame({"qhash": [h[0], h[2]], "domain": ["geometry", None], "correct_small": [True, False]})
    f = build_features(pool, small_tokenizer, labels=[("teacher", teacher), ("user", user)], aliases=["small", "big"])
    assert list(f.columns) == feature_columns(["small", "big"])
    assert f["trace"].tolist()[:2] == ["how many r are in raspberry", "x"] and f["trace"].iloc[2] is None
    assert f["trace_tokens"].iloc[0] == len(small_tokenizer.encode("how many r are in raspberry").ids)
    assert pd.isna(f["trace_tokens"].iloc[2])
    assert f["domain"].tolist() == ["geometry", None, None]  # label beats source; no fallback
    assert f["teacher_correct"].tolist()[:2] == [True, False] and pd.isna(f["teacher_correct"].iloc[2])
    assert f["correct_small"].tolist()[0] is True and pd.isna(f["correct_big"]).all()
    assert f["quality_ok"].tolist() == [True, False, True]


def test_features_fallbacks(small_tokenizer):
    f = build_features(_pool(), small_tokenizer, trace_fallback="solution", domain_fallback="source")
    assert f["trace_tokens"].iloc[0] == len(small_tokenizer.encode("s1 text here").ids)
    assert pd.isna(f["trace_tokens"].iloc[1])
    assert f["domain"].tolist() == ["alg", "B", "B"]


@pytest.mark.parametrize("labels,msg", [
    (pd.DataFrame({"qhash": ["a", "a"], "domain": ["x", "y"]}), "appears more than once"),
    (pd.DataFrame({"qhash": ["a"], "corect_small": [True]}), "unexpected column 'corect_small'"),
    (pd.DataFrame({"qhash": ["a"], "teacher_correct": ["yes"]}), "'teacher_correct' must be boolean"),
    (pd.DataFrame({"domain": ["x"]}), r"missing column\(s\) \['qhash'\]"),
])
def test_bad_label_tables_name_the_problem(small_tokenizer, labels, msg):
    with pytest.raises(InputFileError, match=msg):
        build_features(_pool(), small_tokenizer, labels=[("labels.parquet", labels)])


def test_question_hash_is_sha256_prefix():
    assert question_hash("abc") == hashlib.sha256(b"abc").hexdigest()[:16]
