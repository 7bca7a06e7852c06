"""The group committer: the one writer of a server process, many requests per transaction.

The tracking server answers a request (redirect, GIF, 2xx) only after its
event is committed, yet one transaction per request would cap it at the
disk's fsync rate. `GroupCommitter` owns the one writer connection of a
server process: requests hand it small jobs, its thread runs every job that
is waiting in one transaction, commits once, and only then completes their
futures. Should a job fail, the batch is rolled back and run again with each
job in a savepoint of its own, so a failing job undoes only its own work.
The busier the server, the more jobs share each commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from alerts.db import Database, open_db, savepoint, set_durable, write_transaction
from alerts.errors import StorageError

log = logging.getLogger("alerts.tracking")

T = TypeVar("T")
Job = Callable[[Database], T]


class GroupCommitter:
    """The one writer of a server process: many requests' jobs, one transaction."""

    def __init__(self, connect: Callable[[], Database], *, max_batch: int = 2000) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Job[Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="alerts-group-commit", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.transactions = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(self, job: Job[T]) -> Future[T]:
        """Queue a job; its future completes once the job's work is committed.

        The future is marked running at once so that nobody can cancel it: a
        client that hangs up does not take its event with it.
        """
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        self._queue.put((job, future))
        return future

    def close(self) -> None:
        """Commit whatever is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            db = self._connect()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                if batch:
                    self._commit(db, batch)
        finally:
            db.close()

    def _next_batch(self) -> tuple[list[tuple[Job[Any], Future[Any]]], bool]:
        item = self._queue.get()
        if item is None:
            return [], True
        batch = [item]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, db: Database, batch: list[tuple[Job[Any], Future[Any]]]) -> None:
        jobs = [job for job, _future in batch]
        try:
            try:
                with write_transaction(db):
                    outcomes = _run_together(db, jobs)
            except _JobFailed:
                # Rare: start the batch over with each job in a savepoint of its own.
                with write_transaction(db):
                    outcomes = [_run_isolated(db, job) for job in jobs]
        except Exception as exc:
            if db.conn.in_transaction:
                db.conn.rollback()
            log.error("group commit of %d jobs failed: %s", len(batch), exc)
            error = StorageError(f"the database could not commit: {exc}")
            for _job, future in batch:
                future.set_exception(error)
            return
        self.transactions += 1
        self.jobs += len(batch)
        for (_job, future), (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


class _JobFailed(Exception):
    """A job of a batch raised: the batch's transaction is rolled back and run again."""


def _run_together(db: Database, jobs: list[Job[Any]]) -> list[tuple[bool, Any]]:
    """The fast path: every job straight in the transaction, no savepoints."""
    outcomes: list[tuple[bool, Any]] = []
    for job in jobs:
        try:
            outcomes.append((True, job(db)))
        except Exception as exc:
            raise _JobFailed from exc
    return outcomes


def _run_isolated(db: Database, job: Job[Any]) -> tuple[bool, Any]:
    try:
        with savepoint(db):
            return True, job(db)
    except Exception as exc:
        return False, exc


def _open_writer(db_path: Path, durable: bool) -> Database:
    database = open_db(db_path)
    if durable:
        set_durable(database)
    return database


class Tracker:
    """The tracking server's handle on the database: one reader and one group committer.

    Reads go through `reader`, which the caller uses from one thread; writes
    are jobs handed to `submit`.
    """

    def __init__(self, db_path: Path, *, durable: bool = True) -> None:
        self.db_path = db_path
        self.durable = durable
        self._reader: Database | None = None
        self._committer: GroupCommitter | None = None

    def start(self) -> None:
        self._reader = open_db(self.db_path)
        self._committer = GroupCommitter(lambda: _open_writer(self.db_path, self.durable))
        self._committer.start()

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
            log.info(
                "group commit: %d events and changes in %d transactions",
                self._committer.jobs,
                self._committer.transactions,
            )
            self._committer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> Database:
        if self._reader is None:
            raise RuntimeError("Tracker.start() was not called")
        return self._reader

    def submit(self, job: Job[T]) -> Future[T]:
        """Queue a writer job; its future completes once the job's work is committed."""
        if self._committer is None:
            raise RuntimeError("Tracker.start() was not called")
        return self._committer.submit(job)
