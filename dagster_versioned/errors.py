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
    │   └── JobNotFound
    ├── AlreadyExists (FileExistsError)
    ├── InvalidArgument (ValueError)
    │   ├── InvalidName
    │   ├── InvalidRef
    │   ├── InvalidPath
    │   ├── InvalidTrigger
    │   ├── InvalidParameters
    │   └── InvalidSpec
    ├── StateError
    │   ├── CommitNotFinished
    │   ├── CommitFinished
    │   └── RepoInUse
    ├── Conflict
    ├── StorageError (OSError)
    │   ├── StorageUnavailableError
    │   └── UnsupportedBackend
    └── CorruptStore
"""

from __future__ import annotations


class VersionedError(Exception):
    """Root of every error dagster-versioned raises on purpose."""


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

    ``expected`` and ``got`` carry what the writer believed and what it found.
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
