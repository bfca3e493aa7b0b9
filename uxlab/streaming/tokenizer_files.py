"""Which tokenizer files a study may name, and reading one without trusting it.

An arm's ``tokenizer:`` is read by the server, so it cannot be any path on the server: it names a
Hugging Face ``tokenizer.json`` in the operator's tokenizer directory (UXLAB_TOKENIZER_DIR), relative
to it (``llama-3/tokenizer.json``) or as an absolute path inside it. The path is resolved (``..``
and symbolic links followed) and must stay inside the directory; the file must be a regular file
(not a device, a pipe or a directory) of at most UXLAB_TOKENIZER_MAX_BYTES, and no more than that is
ever read. uxlab ships no tokenizer files of its own: without one, arms use the built-in
approximation (tokens.py).

Framework-free: the web app ``configure``s the directory and the cap at start.
"""

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class TokenizerRefused(ValueError):
    """The name is outside the tokenizer directory, or the file is not one uxlab will read."""


@dataclass(frozen=True)
class TokenizerFiles:
    """Where tokenizer files live (empty: none may be used) and the largest one read."""

    directory: str = ""
    max_bytes: int = DEFAULT_MAX_BYTES


_files = TokenizerFiles()


def configure(files: TokenizerFiles) -> None:
    global _files
    _files = TokenizerFiles(str(files.directory or ""), int(files.max_bytes))


def current() -> TokenizerFiles:
    return _files


def tokenizer_path(name: str, files: TokenizerFiles | None = None) -> Path:
    """The file ``name`` stands for, inside the tokenizer directory (TokenizerRefused otherwise)."""
    files = files or _files
    if not files.directory:
        raise TokenizerRefused("tokenizer files are turned off here (the operator sets UXLAB_TOKENIZER_DIR)")
    if "\x00" in name:
        raise TokenizerRefused("must name a file in the tokenizer directory")
    root = Path(files.directory).resolve()
    path = (root / name).resolve()
    if path == root or not path.is_relative_to(root):
        raise TokenizerRefused(
            f"{name} is outside the tokenizer directory (UXLAB_TOKENIZER_DIR): name a file in it, "
            "e.g. llama-3/tokenizer.json"
        )
    return path


def read_tokenizer_file(path, max_bytes: int = DEFAULT_MAX_BYTES, label: str | None = None) -> str:
    """The text of a regular file of at most ``max_bytes``; never blocks on a pipe or reads a device."""
    label = label or str(path)
    try:
        # Non-blocking, so opening a FIFO returns at once; no symbolic link as the last component.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise TokenizerRefused(f"{label}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenizerRefused(f"{label}: not a regular file")
        raise TokenizerRefused(f"{label}: larger than {max_bytes} bytes (UXLAB_TOKENIZER_MAX_BYTES)")
    with os.fdopen(fd, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise TokenizerRefused(f"{label}: larger than {max_bytes} bytes (UXLAB_TOKENIZER_MAX_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenizerRefused(f"{label}: not a loadable tokenizer.json file (not UTF-8 text)") from None


def load_tokenizer(path, max_bytes: int = DEFAULT_MAX_BYTES, label: str | None = None):
    """A ``split`` function like ``tokens.split_tokens`` backed by a Hugging Face ``tokenizer.json``.

    The file is read locally (read_tokenizer_file) and parsed with the ``tokenizers`` package
    (nothing is downloaded). Token strings are cut from the text by the tokenizer's character
    offsets, so joining them gives the text back exactly: text the tokenizer skips or normalises
    (spaces, unknown characters) is attached to the following token, and any trailing remainder to
    the last one.
    """
    from tokenizers import Tokenizer  # imported here: only researchers who supply a file need it

    label = label or str(path)
    text = read_tokenizer_file(path, max_bytes, label)
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise TokenizerRefused(f"{label}: not a loadable tokenizer.json file: {exc}") from None

    def split(text: str) -> list[str]:
        if not text:
            return []
        encoding = tokenizer.encode(text, add_special_tokens=False)
        ends = sorted({end for _start, end in encoding.offsets if 0 < end <= len(text)})
        if not ends or ends[-1] != len(text):
            ends.append(len(text))
        tokens, start = [], 0
        for end in ends:
            tokens.append(text[start:end])
            start = end
        return tokens

    return split


def open_tokenizer(name: str, files: TokenizerFiles | None = None):
    """The split function of the tokenizer an arm names (TokenizerRefused when it may not be read)."""
    files = files or _files
    return load_tokenizer(tokenizer_path(name, files), files.max_bytes, label=name)


@functools.lru_cache(maxsize=16)
def cached_tokenizer(name: str, files: TokenizerFiles):
    """open_tokenizer, kept: a study's arms split every trial's text with the same tokenizer."""
    return open_tokenizer(name, files)
