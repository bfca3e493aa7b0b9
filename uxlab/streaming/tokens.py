"""A built-in, dependency-free approximation of an LLM tokenizer.

Real BPE tokenizers differ by model, and the study only needs token *counts and boundaries* that
behave like them, so ``split_tokens`` imitates their shape:

* leading whitespace attaches to the following word or punctuation mark (``" the"``), as in
  GPT-style BPE; whitespace at the very end of the text is a token of its own;
* each punctuation or symbol character is its own token;
* a run of letters/digits longer than ``MAX_WHOLE_WORD`` characters is split into pieces of about
  ``PIECE_CHARS`` characters, as BPE splits rare long words into sub-words.

On English prose this gives about 1.3 tokens per word (0.75 words per token), the usual rule of
thumb for English with GPT/Llama tokenizers. The split is lossless: ``"".join(split_tokens(t)) == t``.
A real tokenizer file can be used instead (tokenizer_files.py).
"""

import functools
import re

MAX_WHOLE_WORD = 6
PIECE_CHARS = 4

# Every character is whitespace, a word character or something else, so these alternatives tile
# the whole string with no gaps: whitespace + word, whitespace + one symbol, or trailing whitespace.
_TOKEN_RE = re.compile(r"(\s*)(\w+|[^\w\s])|\s+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into approximate LLM tokens; joining the result gives ``text`` back."""
    return list(_split_cached(text))


@functools.lru_cache(maxsize=512)
def _split_cached(text: str) -> tuple[str, ...]:
    # A study has a handful of responses, each split again for every trial that shows it.
    return tuple(_split(text))


def _split(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        space, body = match.group(1), match.group(2)
        if body is None or len(body) <= MAX_WHOLE_WORD:
            tokens.append(match.group(0))
            continue
        pieces = -(-len(body) // PIECE_CHARS)  # ceil
        size, extra = divmod(len(body), pieces)
        start = 0
        for i in range(pieces):
            end = start + size + (1 if i < extra else 0)
            tokens.append((space if i == 0 else "") + body[start:end])
            start = end
    return tokens
