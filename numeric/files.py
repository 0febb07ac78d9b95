"""Writing output files without ever losing what a person had.

Every file layergrad writes goes through :func:`write_output`: the bytes go to a temporary
file in the same folder and are renamed into place (so a crash never leaves half a file), and
the SHA-256 of what was written is recorded in the folder's ``.layergrad-manifest.json``. A
later write may replace a file only if it is still exactly what layergrad wrote (its hash is in
the manifest, or it is a generated module whose embedded hash matches); anything else — a
file someone made or edited — is replaced only with ``force=True``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from derive.errors import LayergradError

__all__ = ["MANIFEST", "check_writable", "foreign_files", "replace_text", "write_output"]

MANIFEST = ".layergrad-manifest.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ours(path: Path, manifest: dict[str, str]) -> bool:
    data = path.read_bytes()
    if manifest.get(path.name) == _sha(data):
        return True
    from .codegen.module import is_untouched  # here, not at the top: writing a file must not import SymPy

    try:
        return is_untouched(data.decode())
    except UnicodeDecodeError:
        return False


def write_output(path: str | os.PathLike, data: str | bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically, refusing to replace a file layergrad did not
    write (or that was edited since) unless ``force``. Creates the folder if needed."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    if path.is_dir():
        raise LayergradError(f"{path} is a directory; expected a file name")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LayergradError(f"cannot create folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise LayergradError(f"folder {folder} is not writable")
    try:
        _write_locked(path, raw, force)
    except OSError as exc:  # a folder that root may enter but not write (/sys, /proc, a full disk)
        raise LayergradError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def replace_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` over an existing file atomically, for a caller that changed only a block of
    it that layergrad owns (marked by layergrad's own lines, e.g. the README's measured block)."""
    path = Path(path)
    try:
        _atomic(path, text.encode())
    except OSError as exc:
        raise LayergradError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_writable(path: str | os.PathLike, force: bool = False) -> Path:
    """Raise now, before a long computation, if :func:`write_output` would refuse ``path`` later:
    a folder, a folder that cannot be made or written, or a file layergrad may not replace."""
    path = Path(path)
    if path.is_dir():
        raise LayergradError(f"{path} is a directory; expected a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise LayergradError(f"cannot write {path}: {exc.strerror or exc}") from None
    _guard(path, _manifest(path.parent), force)
    return path


def foreign_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files among ``paths`` (folders: every file below them) that layergrad never wrote: not in
    their folder's manifest (edited or not) and not a generated module. Hidden files are skipped."""
    found: list[Path] = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if any(part.startswith(".") for part in file.relative_to(path.parent).parts):
                continue
            if file.name not in _manifest(file.parent) and not _ours(file, {}):
                found.append(file)
    return found


def _manifest(folder: Path) -> dict[str, str]:
    """The folder's record of what layergrad wrote (empty when missing or unreadable)."""
    try:
        return json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).exists() else {}
    except (OSError, ValueError):
        return {}


def _guard(path: Path, manifest: dict[str, str], force: bool) -> None:
    """Refuse to replace a file layergrad did not write (or that was edited since), unless ``force``."""
    if path.exists() and not force and not _ours(path, manifest):
        raise LayergradError(f"{path} exists and was not written by layergrad (or was edited since); "
                             "use --force to replace it")


def _write_locked(path: Path, raw: bytes, force: bool) -> None:
    """The check against the folder's manifest and the atomic write, under the folder's lock."""
    folder = path.parent
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = _manifest(folder)
        _guard(path, manifest, force)
        _atomic(path, raw)
        manifest[path.name] = _sha(raw)
        _atomic(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    finally:
        os.close(lock)


def _atomic(path: Path, raw: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
