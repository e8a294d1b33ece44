"""Shopper text normalisation, applied before any NLU sees a message.

Shoppers type full-width digits from Chinese IMEs (１２３４), write Traditional
characters (請問這件有貨嗎), paste cards with odd whitespace and hammer
punctuation (？？？！！). All of that means the same as the plain form, so we map
it to the plain form once, here, instead of teaching the classifier every variant.
"""
from __future__ import annotations

import re
import unicodedata
from functools import cache

from opencc import OpenCC

from bot.guard.commands import COMMAND_PREFIX, TEXT_SLASH

# Longer messages are cut before NLU: the meaning of a shopper's message sits in
# its first few hundred characters, and featurizer cost grows with length.
MAX_NLU_CHARS = 400

_WHITESPACE = re.compile(r"\s+")
# A run of two or more punctuation marks: "？？？", "!!!", "。。。", "?!?!".
_PUNCT_RUN = re.compile(r"([^\w\s])\1+")


@cache
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def _drop_control_chars(text: str) -> str:
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )


def normalize_text(text: str, max_chars: int = MAX_NLU_CHARS) -> str:
    """Return the canonical form of a shopper message.

    Full-width to half-width (NFKC), Traditional to Simplified Chinese, control
    characters removed, whitespace collapsed, repeated punctuation squeezed, cut
    to `max_chars`. A leading full-width "／" stays full-width: only a typed "/"
    may make a message a command (see `bot.guard.commands`).
    """
    if not text:
        return ""
    text = text[: max_chars * 2]  # bound the work below on huge inputs
    typed_command = text.lstrip().startswith(COMMAND_PREFIX)
    text = unicodedata.normalize("NFKC", text)
    if not typed_command and text.lstrip().startswith(COMMAND_PREFIX):
        # Rasa reads a leading "/" as a command; a slash that was not typed as one stays text.
        text = text.replace(COMMAND_PREFIX, TEXT_SLASH, 1)
    text = _drop_control_chars(text)
    text = _t2s().convert(text)
    text = _PUNCT_RUN.sub(r"\1", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text[:max_chars]


def keeps_offsets(original: str, normalized: str) -> bool:
    """True when character offsets in `original` still point at the same text.

    Training examples carry entity offsets; we only rewrite those whose length
    does not change (width and script mapping are one character to one).
    """
    return len(original) == len(normalized)
