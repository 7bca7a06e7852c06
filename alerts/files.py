"""Files written whole: under a temporary name beside the target, renamed into place at the end.

A reader never sees half a file, and a failure leaves the old file as it was.
The temporary name is `.<target name>.<writer's pid>.<random>.tmp`, created
readable by its owner only; a writer killed before it could clean up (kill -9,
a power cut) leaves one behind, and the next writer of the same target removes
those whose process is gone (`remove_stale`).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new temporary file (descriptor, path) in the folder of `path`, for its contents.

    Raises OSError when the folder cannot be written.
    """
    folder = path.parent
    remove_stale(path)
    handle, name = tempfile.mkstemp(
        dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    return handle, Path(name)


def write_whole(path: Path, data: bytes) -> None:
    """Put `data` at `path` through a temporary file renamed into place. Raises OSError."""
    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale(path: Path) -> list[Path]:
    """Remove the temporaries of `path` left by writers that died; returns what was removed.

    Only names of the pattern above count, only those made before this call,
    and only when the process that made them is no longer running.
    """
    now = time.time()
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[^.]+\.tmp")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return []
    for candidate in candidates:
        found = pattern.fullmatch(candidate.name)
        if found is None or _is_running(int(found.group(1))):
            continue
        try:
            if candidate.stat().st_mtime >= now or not candidate.is_file():
                continue
            candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
    return removed


def _is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
