"""A researcher-supplied tokenizer.json, built and trained here from a few sentences (nothing downloaded)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import build_schedule
from uxlab.streaming.tokens import load_tokenizer

SENTENCES = [
    "The sky is blue because air scatters short wavelengths of sunlight.",
    "An egg floats in salty water because the water is denser than the egg.",
    "Streaming speed changes how people perceive the quality of an answer.",
]


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"])
    tokenizer.train_from_iterator(SENTENCES, trainer=trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def test_it_splits_on_the_tokenizers_own_boundaries(tokenizer_path):
    split = load_tokenizer(tokenizer_path)
    reference = Tokenizer.from_file(str(tokenizer_path)).encode("The sky is blue.", add_special_tokens=False)

    tokens = split("The sky is blue.")

    assert "".join(tokens) == "The sky is blue."
    assert len(tokens) == len(reference.tokens)
    # Each piece ends where the tokenizer's token ends; skipped spaces lead the next piece.
    assert tokens[:2] == ["The", " sky"]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_it_keeps_any_text_lossless(tokenizer_path, text):
    assert "".join(load_tokenizer(tokenizer_path)(text)) == text


def test_it_drives_a_schedule(tokenizer_path):
    split = load_tokenizer(tokenizer_path)
    text = SENTENCES[0]
    tokens = build_schedule(SyntheticProfile(tokens_per_second=10, ttft_s=0), text, seed=1, tokenize=split)

    assert [t.text for t in tokens] == split(text)
    assert len(tokens) != len(build_schedule(SyntheticProfile(), text, seed=1))  # not the built-in split


def test_it_rejects_a_file_that_is_not_a_tokenizer(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"not": "a tokenizer"}')
    with pytest.raises(ValueError, match="not a loadable tokenizer.json"):
        load_tokenizer(path)
