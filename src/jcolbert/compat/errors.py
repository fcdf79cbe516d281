"""The errors `jcolbert.compat` raises, shaped so that code written for colbert-ai keeps catching them.

colbert-ai reports most misuse with ``assert`` (an `AssertionError`), a missing index with the
`FileNotFoundError` of ``open()``. Each compat error is both the jcolbert error (caught by ``except
JColbertError`` / ``InputError``, printed in one line by the CLI) and the builtin colbert-ai raises in the
same place. They live in `jcolbert.errors` with every other exception class; this module names them for
compat's modules.
"""

from jcolbert.errors import CompatError, IndexNotFoundError, UnsupportedError

__all__ = ["CompatError", "IndexNotFoundError", "UnsupportedError"]
