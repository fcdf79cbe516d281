"""Exception types: every class jcolbert raises on purpose, in one place.

Every error a user can cause derives from JColbertError, so the CLI can print one clear line for it and
scripts can catch the whole family. This module imports nothing: any module may import it.

    JColbertError
      InputError (also a ValueError)   bad input: a text, a file, a record, an argument
        DatasetError                   an evaluation dataset folder (BEIR / MS MARCO) that cannot be read
        TrainingDataError              training input (n-way JSONL, triples, qrels, negatives) at file:line
      UsageError                       a command line the library cannot see (a flag combination)
      CheckpointError                  a model folder or hub name that cannot be loaded
        HubUnavailableError            the Hugging Face hub could not be reached
      IndexFormatError                 an index folder that is missing, corrupted or from another version
      IndexLockedError                 another process holds the index's writer lock
      IndexReadOnlyError               a change asked of an index opened read-only (or on read-only media)
      NoSpaceError                     the disk filled while a change was written (nothing was committed)
      DownloadError                    a public dataset that could not be fetched
      TrainingStateError               a training folder that cannot be resumed or reused
      MissingExtraError (also an ImportError)  an optional part that needs `pip install "jcolbert[EXTRA]"`
"""

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


class ServiceError(JColbertError):
    """A request the HTTP server refused, or an error answer a client received: `status` is the HTTP status,
    `code` the machine-readable error code of the JSON body `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


class ServiceInputError(ServiceError, InputError):
    """A 4xx answer caused by the request's content (bad field, unknown id, duplicate id): an `InputError`
    too, so code that catches `InputError` around a local `Index` works unchanged with `RemoteIndex`."""


class DatasetError(InputError):
    """A dataset folder that cannot be read as BEIR or MS MARCO; the message names the file and line."""


class UsageError(JColbertError):
    """A bad command line that the library cannot see (e.g. a flag combination); the CLI's own errors."""


class DownloadError(JColbertError):
    """A public dataset (e.g. a BEIR zip) that could not be fetched or unpacked."""


class MissingExtraError(JColbertError, ImportError):
    """An optional part of jcolbert whose packages are not installed; the message names the extra."""

    def __init__(self, extra: str, purpose: str, missing: str) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(f'{purpose} needs the {missing} package: pip install "jcolbert[{extra}]"')



# jcolbert.compat (colbert-ai's API): each is also the builtin colbert-ai raises in the same place, so code
# written for colbert-ai keeps catching them.
class CompatError(InputError, AssertionError):
    """A call colbert-ai refuses with an assertion: wrong argument, existing index, bad collection file."""


class IndexNotFoundError(IndexFormatError, FileNotFoundError):
    """No index in the folder named (colbert-ai: the `FileNotFoundError` of reading its metadata.json)."""


class UnsupportedError(JColbertError, NotImplementedError):
    """A colbert-ai feature jcolbert.compat does not provide (training, ``full_length_search``, ...)."""


class ShardUnavailableError(JColbertError):
    """A shard of a sharded index (jcolbert.distributed) that did not answer, even after one retry.
    `shard` is its folder name (e.g. ``shard-0002``)."""

    def __init__(self, message: str, shard: str):
        super().__init__(message)
        self.shard = shard

    def __reduce__(self):  # Ray and multiprocessing pickle errors: keep the shard through the round trip
        return (type(self), (str(self), self.shard))


# jcolbert.train
class TrainingDataError(InputError):
    """Training input that cannot be used: a malformed line, an unknown query/passage id, an empty group,
    a NaN teacher score (the message names the file and line)."""


class TrainingStateError(JColbertError):
    """A training output folder that cannot be resumed or reused: no checkpoint to resume, settings that differ
    from the run being resumed, an existing folder without --overwrite/--resume."""


def require_extra(module: str, extra: str, purpose: str):
    """Import and return ``module``, or raise `MissingExtraError` naming the extra that installs it."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: its own error says more
        raise MissingExtraError(extra, purpose, module.split(".")[0]) from exc


# Every exception class above, whoever adds one: `jcolbert` exports them all.
__all__ = sorted(n for n, o in list(globals().items()) if isinstance(o, type) and issubclass(o, Exception))
