"""The files a load reads, from disk or downloaded: each with its recorded name and its hash."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts import __version__
from alerts.errors import RosterError

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    """A file read for a load: its name as recorded (path or URL), bytes and hash."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def suffix(self) -> str:
        """The name's suffix in lower case (".yaml"), also for a URL."""
        return Path(urllib.parse.urlparse(self.name).path).suffix.lower()

    def text(self) -> str:
        """The content as text; a UTF-8 byte-order mark (the Census files have one) is dropped."""
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RosterError(f"{self.name}: not UTF-8 text (byte {exc.start})") from None


def read_source(path: Path | str, name: str | None = None) -> SourceFile:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RosterError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise RosterError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise RosterError(f"{path}: cannot be read ({exc.strerror})") from None
    return SourceFile(name or str(path), data)


def source(given: Path | str | SourceFile) -> SourceFile:
    """A SourceFile as given, or read from the path."""
    return given if isinstance(given, SourceFile) else read_source(given)


def download(url: str, target: Path, *, timeout: float = 60.0) -> SourceFile:
    """Fetch `url` into the file `target`; the SourceFile is named after the URL."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise RosterError(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": f"alerts/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, target.open("wb") as out:
            _copy_limited(url, response, out)
    except urllib.error.HTTPError as exc:
        raise RosterError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
    except urllib.error.URLError as exc:
        raise RosterError(f"{url}: download failed ({exc.reason})") from None
    except TimeoutError:
        raise RosterError(f"{url}: download failed (no answer within {timeout:g} s)") from None
    except OSError as exc:
        raise RosterError(f"{url}: download failed ({exc})") from None
    return SourceFile(url, target.read_bytes())


def _copy_limited(url: str, response: Any, out: Any) -> None:
    copied = 0
    for chunk in iter(lambda: response.read(1 << 16), b""):
        copied += len(chunk)
        if copied > MAX_DOWNLOAD_BYTES:
            raise RosterError(f"{url}: download failed (larger than {MAX_DOWNLOAD_BYTES} bytes)")
        out.write(chunk)
    if not copied:
        raise RosterError(f"{url}: download failed (empty answer)")
