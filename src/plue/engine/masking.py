"""Secret masking: every secret value becomes ``***`` before any text leaves the engine.

What is masked, for each secret value:

- the whole value, and for a multi-line value each of its lines separately
  (output is line based, so a multi-line secret printed to a log arrives one
  line at a time; GitHub Actions masks the same way), and each line without its
  surrounding whitespace;
- longest first, so a secret that contains another is masked whole.

Values shorter than `MIN_SECRET_LENGTH` characters (after stripping whitespace)
are not masked: masking ``"1"`` or ``"ab"`` would shred every log while hiding
next to nothing. Encoded forms (base64, URL-encoding) are not masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

MASK: Final = "***"
MIN_SECRET_LENGTH: Final = 3


def _fragments(value: str) -> set[str]:
    """The texts to mask for one secret value."""
    candidates = {value, value.strip()}
    for line in value.splitlines():
        candidates.update((line, line.strip()))
    return {text for text in candidates if len(text.strip()) >= MIN_SECRET_LENGTH}


class Masker:
    """Replaces secret values with ``***``. Immutable and thread-safe; calling it is cheap without secrets."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        fragments: set[str] = set()
        for value in secrets:
            fragments |= _fragments(value)
        # Longest first: the regex alternation takes the first alternative that matches.
        ordered = sorted(fragments, key=lambda text: (-len(text), text))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_data(self, value: Any) -> Any:
        """A copy of plain data (dicts, lists, strings...) with every string masked; keys included."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(item) for item in value]
        return value
