"""Where things are: the project tree, the rdpgate binary (RDPGATE_BIN), the captured vectors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SKIP_EXIT_CODE = 77  # ctest SKIP_RETURN_CODE: the check or every test of a file was skipped

# The project root: RDPGATE_SOURCE_DIR (set by ctest) or two folders above this package.
SOURCE_DIR = Path(os.environ.get("RDPGATE_SOURCE_DIR") or Path(__file__).resolve().parents[2])


def rdpgate_bin() -> str | None:
    """The rdpgate binary named by RDPGATE_BIN (ctest sets it), if it is an executable file."""
    path = os.environ.get("RDPGATE_BIN", "")
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def rdpgate_missing() -> str:
    """Why rdpgate_bin() found nothing, for a skip message."""
    return (f"rdpgate binary not found (RDPGATE_BIN={os.environ.get('RDPGATE_BIN', '')!r}): "
            "build the `rdpgate` target and run through ctest, or export RDPGATE_BIN")


def find_tool(name: str) -> str | None:
    """A program on PATH, or in /usr/sbin (not on a normal user's PATH)."""
    path = shutil.which(name)
    if path is None and os.access(f"/usr/sbin/{name}", os.X_OK):
        path = f"/usr/sbin/{name}"
    return path


def vectors_dir() -> Path:
    """The captured RDP bytes: RDPGATE_VECTORS_DIR, else ../shared/vectors beside the project."""
    env = os.environ.get("RDPGATE_VECTORS_DIR")
    return Path(env) if env else SOURCE_DIR.parent / "shared" / "vectors"


def read_vector(name: str) -> bytes | None:
    """The bytes of one captured vector (`#` lines and whitespace ignored), or None when the
    file is absent."""
    path = vectors_dir() / name
    if not path.is_file():
        return None
    digits = "".join(line for line in path.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    return bytes.fromhex("".join(digits.split()))
