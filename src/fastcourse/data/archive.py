"""Zip archives unpacked safely (Kaggle competition data): checked before a byte is written — a real zip, no
encrypted members, methods Python can unpack, no member outside the folder or twice, room on the disk — then
extracted into a temp folder that is renamed into place only when complete."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ..console import human_bytes
from ..errors import DataError
from ..paths import remove_tree

METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}  # what zipfile unpacks
METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz", 98: "PPMd", 99: "AES"}
MARGIN = 256 * 1024**2  # free space kept after unpacking


def problems(archive: Path, into: Path) -> list[str]:
    """Why `archive` cannot be unpacked into `into` (empty: it can), one line each."""
    try:
        z = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        return [f"{archive.name} is not a complete zip ({type(e).__name__})"]
    with z:
        members = z.infolist()
    out, seen = [], {}
    for m in members:
        name = PurePosixPath(m.filename.replace("\\", "/"))
        if m.flag_bits & 0x1:
            out.append(f"{m.filename}: encrypted — unpack it by hand with its password")
        elif m.compress_type not in METHODS:
            method = METHOD_NAMES.get(m.compress_type, f"method {m.compress_type}")
            out.append(f"{m.filename}: compressed with {method}, which Python cannot unpack — "
                       f"unpack it by hand (7z x {archive})")
        if name.is_absolute() or ".." in name.parts or not name.parts:
            out.append(f"{m.filename}: points outside the folder — not extracted")
        key = str(name).rstrip("/").lower()  # case-folded: the same file on Windows and macOS disks
        if key in seen and seen[key] != m.is_dir():
            out.append(f"{m.filename}: both a file and a folder in the archive")
        elif key in seen and not m.is_dir():
            out.append(f"{m.filename}: appears twice in the archive (one would overwrite the other)")
        seen[key] = m.is_dir()
    need = sum(m.file_size for m in members)
    free = shutil.disk_usage(into.parent if into.parent.exists() else archive.parent).free
    if need + MARGIN > free:
        out.append(f"unpacking needs {human_bytes(need)} and {human_bytes(free)} is free under {into.parent} — "
                   "free space (the zip itself can go once unpacked), then run again")
    return out


def unzip(archive: Path, into: Path, owner: Path) -> Path:
    """Extract `archive` into `into` (a fresh folder inside `owner`) after checking it; DataError listing every
    problem otherwise. `into` appears only when complete (extracted beside it, then renamed)."""
    found = problems(archive, into)
    if found:
        raise DataError(f"{archive}: cannot be unpacked — " + found[0] + "".join(f"\n  {p}" for p in found[1:]))
    tmp = into.with_name(f".{into.name}.unpacking")
    remove_tree(tmp, owner)
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        remove_tree(into, owner)
        tmp.rename(into)
    finally:
        remove_tree(tmp, owner)
    return into
