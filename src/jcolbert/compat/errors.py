"""The errors `jcolbert.compat` raises, shaped so that code written for colbert-ai keeps catching them.

colbert-ai reports most misuse with ``assert`` (an `AssertionError`), a missing index with the
`FileNotFoundError` of ``open()``, and refuses nothing as "not supported" (it has everything).
Each compat error is both the jcolbert error (caught by ``except JColbertError`` / ``InputError``,
printed in one line by the CLI) and the builtin colbert-ai raises in the same place.
"""

from __future__ import annotations

from jcolbert.errors import IndexFormatError, InputError, JColbertError


class CompatError(InputError, AssertionError):
    """A call colbert-ai would refuse with an assertion: wrong argument, existing index, bad file."""


class IndexNotFoundError(IndexFormatError, FileNotFoundError):
    """No index in the folder named (colbert-ai: the `FileNotFoundError` of reading its metadata.json)."""


class UnsupportedError(JColbertError, NotImplementedError):
    """A colbert-ai feature jcolbert.compat does not provide (training, ``full_length_search``, ...)."""
