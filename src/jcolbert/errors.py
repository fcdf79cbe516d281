"""Exception types. Every error a user can cause derives from JColbertError, so the CLI can print
one clear line for it and scripts can catch the whole family."""

from __future__ import annotations


class JColbertError(Exception):
    """Base class of all errors jcolbert raises on purpose."""


class InputError(JColbertError, ValueError):
    """Bad user input: empty text, wrong type, malformed file (the message names file/line/field)."""


class CheckpointError(JColbertError):
    """A model folder or hub name that cannot be loaded as a ColBERT checkpoint."""


class HubUnavailableError(CheckpointError):
    """The Hugging Face hub could not be reached to fetch a model by name."""


class IndexFormatError(JColbertError):
    """An index folder that is missing, corrupted, or written by an incompatible version."""


class IndexLockedError(JColbertError):
    """Another process holds the index's writer lock."""


class IndexReadOnlyError(JColbertError):
    """A change asked of an index opened readonly=True, or one on read-only media / without write permission."""


class NoSpaceError(JColbertError):
    """The device holding an index ran out of space while a change was being written (nothing was committed)."""
