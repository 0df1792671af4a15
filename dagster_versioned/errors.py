"""The one exception hierarchy of dagster-versioned.

Every error a user can cause is a ``VersionedError``; callers catch that and show
``str(error)``, which always names the offending value and what would be valid. Where a builtin
fits, the class inherits it too, so code that only knows ``FileNotFoundError`` or
``ValueError`` still does the right thing::

    VersionedError
    ├── NotFound (LookupError)
    │   ├── RepoNotFound (FileNotFoundError)
    │   ├── BranchNotFound (FileNotFoundError)
    │   ├── CommitNotFound (FileNotFoundError)
    │   ├── PathNotFound (FileNotFoundError)
    │   ├── StoreNotFound (FileNotFoundError)
    │   └── JobNotFound
    ├── AlreadyExists (FileExistsError)
    ├── InvalidArgument (ValueError)
    │   ├── InvalidName
    │   ├── InvalidRef
    │   ├── InvalidPath
    │   ├── InvalidTrigger
    │   ├── InvalidParameters
    │   ├── InvalidSpec
    │   └── InvalidDuration
    ├── StateError
    │   ├── CommitNotFinished
    │   ├── CommitFinished
    │   ├── RepoInUse
    │   ├── JobEnded
    │   └── Unrunnable
    ├── Conflict
    ├── JobFailed
    ├── StorageError (OSError)
    │   ├── StorageUnavailableError
    │   └── UnsupportedBackend
    └── CorruptStore
        └── CorruptObject

Errors carry their data as attributes, not only in the message: ``Conflict.expected`` and
``.got`` (the version a writer last read and the one it found), ``CorruptObject.oid``,
``.expected`` and ``.got`` (the hash an object should have and the one its bytes have),
``JobFailed.job`` (the ended job's record). They survive pickling, so an error raised in a
worker process reaches its parent whole.
"""

from __future__ import annotations

from typing import Any


class VersionedError(Exception):
    """Root of every error dagster-versioned raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling calls ``cls(*self.args)``, which fails or loses the data of a
        # class whose constructor takes other arguments than its message (most here do).
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[VersionedError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Rebuild a pickled ``VersionedError`` from its args and attributes, without ``__init__``."""
    # ``__new__`` of the builtin whose layout instances have (``OSError`` for storage errors).
    base = max(
        (c for c in cls.__mro__ if c.__module__ == "builtins"), key=lambda c: c.__basicsize__
    )
    error = base.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class NotFound(VersionedError, LookupError):
    """A named thing (repo, branch, commit, path, job) does not exist."""


class RepoNotFound(NotFound, FileNotFoundError):
    """The repo does not exist."""

    def __init__(self, repo: str) -> None:
        self.repo = repo
        super().__init__(f"repo '{repo}' not found")

    def __str__(self) -> str:
        return f"repo '{self.repo}' not found"


class BranchNotFound(NotFound, FileNotFoundError):
    """The branch does not exist in the repo."""

    def __init__(self, repo: str, branch: str) -> None:
        self.repo = repo
        self.branch = branch
        super().__init__(f"branch '{branch}' not found in repo '{repo}'")

    def __str__(self) -> str:
        return f"branch '{self.branch}' not found in repo '{self.repo}'"


class CommitNotFound(NotFound, FileNotFoundError):
    """No commit answers to the ref."""

    def __init__(self, ref: str, detail: str = "") -> None:
        self.ref = ref
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        suffix = f": {self.detail}" if self.detail else ""
        return f"commit '{self.ref}' not found{suffix}"


class PathNotFound(NotFound, FileNotFoundError):
    """The path does not exist in the commit."""

    def __init__(self, path: str, ref: str) -> None:
        self.path = path
        self.ref = ref
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"path '{self.path}' not found in {self.ref}"


class StoreNotFound(NotFound, FileNotFoundError):
    """No store at the location, and the caller asked not to create one (a reading command).

    ``url`` is the location as given, credentials redacted.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"no store at {self.url}: give the location of an existing store "
            "(nothing was created; writing to a location creates a store there)"
        )


class JobNotFound(NotFound):
    """No job record answers to the name."""


class AlreadyExists(VersionedError, FileExistsError):
    """Creating something whose name is taken."""


class InvalidArgument(VersionedError, ValueError):
    """A value given by the user is malformed."""


class InvalidName(InvalidArgument):
    """A repo or branch name breaks the naming rules."""


class InvalidRef(InvalidArgument):
    """A ``repo@branch^N:/path`` reference cannot be parsed or resolved."""


class InvalidPath(InvalidArgument):
    """A file path is empty, escapes its root, or holds forbidden characters."""


class InvalidTrigger(InvalidArgument):
    """A branch trigger is malformed or would form a loop."""


class InvalidParameters(InvalidArgument):
    """A parameter grid or parameters file is malformed."""


class InvalidSpec(InvalidArgument):
    """A pipeline spec is malformed."""


class InvalidDuration(InvalidArgument):
    """A duration (``1h30m``, ``2d``, ``90s``) is malformed, negative or out of range."""


class StateError(VersionedError):
    """The operation is not allowed in the current state of the thing it acts on."""


class CommitNotFinished(StateError):
    """The commit is still open, and the operation needs a finished one."""


class CommitFinished(StateError):
    """The commit is finished, and the operation needs an open one."""


class RepoInUse(StateError):
    """The repo is in another repo's provenance and cannot be deleted without force."""


class Conflict(VersionedError):
    """A compare-and-swap lost its race too many times, or two writes collide.

    ``expected`` is what the writer believed when it last tried (the ref-log seq or revision it
    had read; ``None``: there was none yet), ``got`` what it found instead (the newest seq or
    revision, written by the writers that beat it). The message names the ref or record and
    how many attempts were made.
    """

    def __init__(self, message: str, *, expected: object = None, got: object = None) -> None:
        self.expected = expected
        self.got = got
        super().__init__(message)


class StorageError(VersionedError, OSError):
    """The storage backend failed in a way that is not the user's input."""


class StorageUnavailableError(StorageError):
    """The storage kept failing with transient errors (5xx, throttling, dropped connections).

    Raised once the bounded retries are spent, so a caller knows the request was retried and
    that trying again later may succeed; ``operation``, ``key`` and ``attempts`` say what failed.
    """

    def __init__(self, message: str, *, operation: str, key: str, attempts: int) -> None:
        self.operation = operation
        self.key = key
        self.attempts = attempts
        super().__init__(message)


class UnsupportedBackend(StorageError):
    """The fsspec backend lacks a capability the store needs (exclusive create)."""


class CorruptStore(VersionedError):
    """Stored data does not match its hash or a reference points nowhere."""


class CorruptObject(CorruptStore):
    """A content-addressed object (a chunk, a tree node, a pack) is not what its name says.

    ``oid`` names the object; ``expected`` is the hash its bytes should have (its ``oid``);
    ``got`` is the hash they have, or ``None`` when they could not be hashed whole (the
    object is missing or cut short, which the message says); ``key`` is where its bytes were
    read (a loose object's key or its pack's), ``None`` when found nowhere or not known.
    """

    def __init__(
        self, message: str, *, oid: str, got: str | None = None, key: str | None = None
    ) -> None:
        self.oid = oid
        self.expected = oid
        self.got = got
        self.key = key
        super().__init__(message)


class JobEnded(StateError):
    """A change to a job record that already ended (or was restarted by another run).

    Terminal job states are final, so the change is refused rather than written; ``job``
    is the record as it stands.
    """

    def __init__(self, message: str, *, job: object) -> None:
        self.job = job
        super().__init__(message)


class Unrunnable(StateError):
    """A job cannot run because jobs of its global id upstream ended without success.

    ``failed`` lists those upstream pipelines; ``pipeline`` and ``job_id`` name the job
    (``""`` when the raiser did not know them).
    """

    def __init__(self, failed: list[str], *, pipeline: str = "", job_id: str = "") -> None:
        self.failed = failed
        self.pipeline = pipeline
        self.job_id = job_id
        super().__init__(
            f"unrunnable because the following upstream pipelines failed: {', '.join(failed)}"
        )


class JobFailed(VersionedError):
    """The job ended in FAILURE, KILLED or UNRUNNABLE; ``job`` holds its record.

    ``job`` is a ``pipelines.jobs.JobInfo`` (typed loosely to keep this module free of
    imports); ``pipeline``, ``job_id``, ``state`` and ``reason`` read from it.
    """

    def __init__(self, job: Any) -> None:
        self.job = job
        state = getattr(job.state, "short", job.state)
        super().__init__(f"job {job.pipeline}@{job.id} {state}: {job.reason}")

    @property
    def pipeline(self) -> str:
        return str(self.job.pipeline)

    @property
    def job_id(self) -> str:
        return str(self.job.id)

    @property
    def state(self) -> Any:
        """The job's ``JobState`` (FAILURE, KILLED or UNRUNNABLE)."""
        return self.job.state

    @property
    def reason(self) -> str:
        return str(self.job.reason)
