"""The shutdown state that every worker process of one server shares.

gunicorn and uWSGI serve an app from several worker processes, and a
``POST /shutdown`` reaches only one of them. So that readiness, the status
report and the shutdown id are the same whichever worker answers, the
worker that accepts a shutdown writes it to a small state file that all
workers of the server read, and a worker that is asked to shut down while
another one already accepted joins that shutdown instead of starting a
second one.

The file is keyed by the server's master process (the gunicorn arbiter,
the uWSGI master), lives in the user's runtime directory
(``$XDG_RUNTIME_DIR``, else ``/dev/shm``, else the temporary directory)
in a folder only the user can enter, is created with owner-only
permissions, and is read and written under ``flock``. A file whose master
has exited is removed by the next server that starts. Why a file and not
shared memory or a library: it needs nothing beyond the standard
library, survives a worker being replaced, its locks are released by the
kernel when a worker dies, and the few reads it serves (readiness, status,
the shutdown request itself) cost microseconds.

The lockout counters live in a second file of the same server
(``...-lockout.state``), so that a guessing attack, which rewrites them
on every attempt, never slows down or enlarges what readiness reads.

A worker that cannot use the file logs once and keeps its state per
process, as a single-process server does; no request fails because of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import tempfile
import threading
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import collections.abc as cabc

logger = logging.getLogger(__name__)

#: The most a state file may hold; a record is a few kilobytes at most.
MAX_SIZE = 1 << 20

#: The most the lockout's file may hold: the failures of up to
#: ``security.MAX_TRACKED_ADDRESSES`` clients.
LOCKOUT_MAX_SIZE = 16 << 20

#: How often a worker waiting for another worker's update looks again:
#: there is no cross-process notification for a plain file.
POLL_INTERVAL = 0.01

_T = t.TypeVar("_T")


class LocalState:
    """State kept in this process only: a single-process server, or a
    worker that could not use the shared file.
    """

    #: Where the state is kept, for the status report.
    scope = "process"

    def __init__(self) -> None:
        #: Used signed tokens: id -> when it expires.
        self._used: dict[str, float] = {}
        self._used_lock = threading.Lock()
        #: Sections kept by :meth:`update`, as JSON-like dicts.
        self._sections: dict[str, dict[str, t.Any]] = {}
        self._changed = threading.Condition()

    def update(
        self,
        section: str,
        change: cabc.Callable[[dict[str, t.Any]], _T | None],
        *,
        wait_until: float | None = None,
    ) -> _T | None:
        """Run ``change`` on the dict kept under ``section``, atomically
        for every process that shares the state; what it leaves in the
        dict is kept. It must leave only JSON types there.

        When ``change`` returns ``None`` and ``wait_until`` (a
        :func:`time.monotonic` time) is given, it is run again after the
        next update of some other thread or process, until it returns
        something else or that time has passed.

        :returns: What the last run of ``change`` returned.
        """
        with self._changed:
            while True:
                rv = change(self._sections.setdefault(section, {}))
                # Any change may be what a waiting attempt waits for.
                self._changed.notify_all()
                remaining = _remaining(rv, wait_until)

                if remaining is None:
                    return rv

                self._changed.wait(remaining)

    def use_once(self, token_id: str, expires_at: float) -> bool:
        """Mark a signed token used; ``False`` if it was used before. A
        token is remembered until it expires, after which it is refused
        anyway.
        """
        with self._used_lock:
            return _use_once(self._used, token_id, expires_at)

    def claim(self, record: dict[str, t.Any]) -> dict[str, t.Any] | None:
        """Store ``record`` as the server's shutdown unless one is under
        way; returns that one, or ``None`` when ``record`` was stored.
        """
        return None

    def publish(self, record: dict[str, t.Any]) -> None:
        """Store the newest state of the shutdown this process runs."""

    def read(self) -> dict[str, t.Any] | None:
        """The shutdown of the server, as the last :meth:`publish` left it."""
        return None

    def clear(self) -> None:
        """Forget the shutdown: the server serves again."""

    def release(self) -> None:
        """This worker exits: remove what is shared once the shutdown it
        records has finished and nobody will serve it again.
        """


class FileState(LocalState):
    """State shared through a file by the processes of one server.

    :param path: The state file; created when missing.
    :param max_size: The most the file may hold, in bytes.
    :param companions: Files of the same server that go when this one
        goes (the lockout's).
    """

    scope = "server"

    def __init__(
        self,
        path: Path,
        *,
        max_size: int = MAX_SIZE,
        companions: tuple[Path, ...] = (),
    ) -> None:
        super().__init__()
        self.path = path
        self.max_size = max_size
        self.companions = companions
        self._fd: int | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._mutex = threading.RLock()
        self._broken = False

    def claim(self, record: dict[str, t.Any]) -> dict[str, t.Any] | None:
        with self._using(fcntl.LOCK_EX) as fd:
            if fd is None:
                return None

            doc = self._load(fd)
            current = doc.get("record")

            if current is not None and current.get("stopped_at") is None:
                return current  # type: ignore[no-any-return]

            doc["record"] = record
            _store(fd, doc)

        return None

    def publish(self, record: dict[str, t.Any]) -> None:
        with self._using(fcntl.LOCK_EX) as fd:
            if fd is None:
                return

            doc = self._load(fd)
            current = doc.get("record")

            # Never overwrite another worker's newer shutdown.
            if current is None or current.get("shutdown_id") == record.get(
                "shutdown_id"
            ):
                doc["record"] = record
                _store(fd, doc)

    def read(self) -> dict[str, t.Any] | None:
        with self._using(fcntl.LOCK_SH) as fd:
            return None if fd is None else self._load(fd).get("record")

    def clear(self) -> None:
        with self._using(fcntl.LOCK_EX) as fd:
            if fd is not None:
                doc = self._load(fd)
                doc.pop("record", None)
                _store(fd, doc)

    def release(self) -> None:
        with self._using(fcntl.LOCK_EX) as fd:
            if fd is None:
                return

            current = self._load(fd).get("record")

            # Workers still exiting keep reading it through their open
            # file; a later server gets a new file of its own.
            if current is not None and current.get("stopped_at") is not None:
                for path in (self.path, *self.companions):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    def use_once(self, token_id: str, expires_at: float) -> bool:
        with self._using(fcntl.LOCK_EX) as fd:
            if fd is not None:
                doc = self._load(fd)
                used = doc.setdefault("used_tokens", {})
                fresh = _use_once(used, token_id, expires_at)
                _store(fd, doc)
                return fresh

        # The file failed: this process remembers on its own.
        return super().use_once(token_id, expires_at)

    def update(
        self,
        section: str,
        change: cabc.Callable[[dict[str, t.Any]], _T | None],
        *,
        wait_until: float | None = None,
    ) -> _T | None:
        while not self._broken:
            rv: _T | None = None

            with self._using(fcntl.LOCK_EX) as fd:
                if fd is not None:
                    doc = self._load(fd)
                    rv = change(doc.setdefault(section, {}))
                    _store(fd, doc)

            if self._broken:
                # The file failed on the way: nothing of this run counts,
                # and this process goes on with its own state.
                break

            remaining = _remaining(rv, wait_until)

            if remaining is None:
                return rv

            time.sleep(min(remaining, POLL_INTERVAL))

        return super().update(section, change, wait_until=wait_until)

    def _load(self, fd: int) -> dict[str, t.Any]:
        return _load(fd, self.max_size)

    @contextlib.contextmanager
    def _using(self, kind: int) -> cabc.Iterator[int | None]:
        """The file descriptor, locked with ``kind``; ``None`` once the file
        has failed, and from then on.
        """
        if self._broken:
            yield None
            return

        # flock does not keep apart the threads of one process, which
        # share the open file (gthread workers, a threaded server): they
        # take turns here first.
        with self._mutex:
            try:
                fd = self._open()
                fcntl.flock(fd, kind)
            except (OSError, ValueError) as e:
                self._fail(e)
                yield None
                return

            try:
                yield fd
            except (OSError, ValueError) as e:
                self._fail(e)
            finally:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        # flock locks belong to the open file, which a forked worker would
        # share with its parent: each process opens the file itself.
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                return self._fd

            fd = os.open(
                self.path,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            info = os.fstat(fd)

            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                os.close(fd)
                raise PermissionError(
                    f"{self.path} is not owned by this user with owner-only"
                    " permissions."
                )

            self._fd, self._pid = fd, os.getpid()
            return fd

    def _fail(self, error: Exception) -> None:
        if not self._broken:
            self._broken = True
            logger.warning(
                "The shared shutdown state file %s cannot be used (%s); this"
                " worker keeps its shutdown state to itself.",
                self.path,
                error,
            )


def _load(fd: int, max_size: int = MAX_SIZE) -> dict[str, t.Any]:
    size = os.fstat(fd).st_size

    if not size:
        return {}

    if size > max_size:
        raise ValueError(f"the state file holds {size} bytes")

    data = os.pread(fd, size, 0)
    rv = json.loads(data)

    if not isinstance(rv, dict):
        raise ValueError("the state file does not hold a JSON object")

    return rv


def _remaining(rv: object, wait_until: float | None) -> float | None:
    """How long to wait before trying again, or ``None`` to return."""
    if rv is not None or wait_until is None:
        return None

    remaining = wait_until - time.monotonic()
    return remaining if remaining > 0 else None


def _store(fd: int, doc: dict[str, t.Any]) -> None:
    data = json.dumps(doc).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _use_once(used: dict[str, float], token_id: str, expires_at: float) -> bool:
    now = time.time()

    # Forget tokens that expired; they cannot be replayed anyway.
    for key in [k for k, exp in used.items() if exp < now]:
        del used[key]

    if token_id in used:
        return False

    used[token_id] = expires_at
    return True


def runtime_dir() -> Path:
    """A folder for state files that only this user can enter.

    :raises OSError: No such folder can be made, or one that exists is
        not private to this user.
    """
    xdg = os.environ.get("XDG_RUNTIME_DIR")

    if xdg and os.path.isdir(xdg):
        base = Path(xdg)
        folder = base / "flask-shutdown"
    else:
        base = (
            Path("/dev/shm")
            if os.path.isdir("/dev/shm")
            else Path(tempfile.gettempdir())
        )
        # A shared folder: the user id keeps users apart.
        folder = base / f"flask-shutdown-{os.getuid()}"

    return private_dir(folder)


def private_dir(folder: Path) -> Path:
    """Make ``folder`` with owner-only permissions, or check that the one
    there is a real folder (not a link) of this user's that nobody else
    can enter.

    :raises OSError: It cannot be made, or is not private.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)

    info = os.lstat(folder)

    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & 0o077
    ):
        raise PermissionError(
            f"{folder} must be a folder owned by this user with owner-only permissions."
        )

    return folder


def for_server(master_pid: int, name: str, *, lockout: bool = False) -> LocalState:
    """The state shared by the processes of the server whose master is
    ``master_pid``, for the app named ``name``; per-process state when the
    file cannot be set up.

    :param lockout: The lockout's file instead of the shutdown's.
    """
    try:
        folder = runtime_dir()
        _remove_stale(folder)
    except OSError as e:
        logger.warning(
            "No folder for the shared shutdown state (%s); each worker keeps"
            " its shutdown state to itself.",
            e,
        )
        return LocalState()

    lockout_path = folder / f"{master_pid}-{name}-lockout.state"

    if lockout:
        return FileState(lockout_path, max_size=LOCKOUT_MAX_SIZE)

    return FileState(folder / f"{master_pid}-{name}.state", companions=(lockout_path,))


def _remove_stale(folder: Path) -> None:
    """Remove the state files of servers whose master has exited."""
    for path in folder.glob("*.state"):
        pid = path.name.split("-", 1)[0]

        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

    return True


class LazyState(LocalState):
    """Resolves the state for the process it is used in, on first use:
    with gunicorn's ``--preload`` the extension is set up in the arbiter,
    before the workers that use it exist.

    :param resolve: Returns the state for the current process.
    """

    def __init__(self, resolve: cabc.Callable[[], LocalState]) -> None:
        super().__init__()
        self._resolve = resolve
        self._state: LocalState | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> LocalState:
        """The state for this process."""
        pid = os.getpid()

        if self._state is None or self._pid != pid:
            with self._lock:
                if self._state is None or self._pid != pid:
                    self._state, self._pid = self._resolve(), pid

        return self._state

    def claim(self, record: dict[str, t.Any]) -> dict[str, t.Any] | None:
        return self.state.claim(record)

    def publish(self, record: dict[str, t.Any]) -> None:
        self.state.publish(record)

    def read(self) -> dict[str, t.Any] | None:
        return self.state.read()

    def clear(self) -> None:
        self.state.clear()

    def release(self) -> None:
        self.state.release()

    def use_once(self, token_id: str, expires_at: float) -> bool:
        return self.state.use_once(token_id, expires_at)

    def update(
        self,
        section: str,
        change: cabc.Callable[[dict[str, t.Any]], _T | None],
        *,
        wait_until: float | None = None,
    ) -> _T | None:
        return self.state.update(section, change, wait_until=wait_until)
