"""A researcher-supplied tokenizer.json, built and trained here from a few sentences (nothing
downloaded); and which files a study may name: only regular files of a bounded size inside the
operator's tokenizer directory, never /etc/passwd or /dev/zero."""

import os
import shutil
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from uxlab.streaming import tokenizer_files
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import build_schedule
from uxlab.streaming.tokenizer_files import TokenizerFiles, TokenizerRefused, load_tokenizer, open_tokenizer

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


# --- Which files a study may name -----------------------------------------------------------------


@pytest.fixture
def files(tmp_path, tokenizer_path):
    root = tmp_path / "tokenizers"
    (root / "llama").mkdir(parents=True)
    shutil.copy(tokenizer_path, root / "llama" / "tokenizer.json")
    return TokenizerFiles(str(root))


def test_it_opens_a_file_of_the_directory_by_relative_or_absolute_name(files, tokenizer_path):
    reference = load_tokenizer(tokenizer_path)("The sky is blue.")
    assert open_tokenizer("llama/tokenizer.json", files)("The sky is blue.") == reference
    assert open_tokenizer(f"{files.directory}/llama/tokenizer.json", files)("The sky is blue.") == reference


@pytest.mark.parametrize("name", ["/etc/passwd", "/dev/zero", "/proc/self/environ", "../../../../etc/passwd",
                                  "llama/../../outside.json", ".", "llama/.."])
def test_it_refuses_any_name_outside_the_directory_before_reading_it(files, tmp_path, tokenizer_path, name):
    shutil.copy(tokenizer_path, tmp_path / "outside.json")  # loadable, but not the operator's to offer
    with pytest.raises(TokenizerRefused, match="outside the tokenizer directory"):
        open_tokenizer(name, files)


def test_a_symbolic_link_leading_out_of_the_directory_is_refused(files, tmp_path, tokenizer_path):
    shutil.copy(tokenizer_path, tmp_path / "outside.json")
    os.symlink("/dev/zero", f"{files.directory}/zero.json")
    os.symlink(tmp_path / "outside.json", f"{files.directory}/outside.json")
    for name in ("zero.json", "outside.json"):
        with pytest.raises(TokenizerRefused, match="outside the tokenizer directory"):
            tokenizer_files.tokenizer_path(name, files)


def test_it_refuses_what_is_not_a_regular_file_without_blocking(files):
    os.mkfifo(f"{files.directory}/pipe.json")  # opening a pipe for reading would wait for a writer
    result = {}

    def attempt():
        for name in ("pipe.json", "llama"):
            try:
                open_tokenizer(name, files)
            except TokenizerRefused as exc:
                result[name] = str(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(5)
    assert result == {"pipe.json": "pipe.json: not a regular file", "llama": "llama: not a regular file"}


def test_it_refuses_a_file_over_the_size_cap(files):
    size = os.path.getsize(f"{files.directory}/llama/tokenizer.json")
    with pytest.raises(TokenizerRefused, match=f"larger than {size - 1} bytes \\(UXLAB_TOKENIZER_MAX_BYTES\\)"):
        open_tokenizer("llama/tokenizer.json", TokenizerFiles(files.directory, max_bytes=size - 1))
    assert open_tokenizer("llama/tokenizer.json", TokenizerFiles(files.directory, max_bytes=size))("a")


def test_without_a_directory_no_file_is_read(tokenizer_path):
    with pytest.raises(TokenizerRefused, match="turned off"):
        open_tokenizer(str(tokenizer_path), TokenizerFiles(""))
