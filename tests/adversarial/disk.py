"""Small tmpfs mounts: a disk that fills up on demand, then grows back."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def mount_tmpfs(size: str) -> Path | str:
    """A fresh tmpfs of `size` (e.g. "4m"), or the reason it cannot be mounted here."""
    if shutil.which("mount") is None:
        return "no mount command"
    mountpoint = Path(tempfile.mkdtemp(prefix="cs-small-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        mountpoint.rmdir()
        return f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
    return mountpoint


def resize(mountpoint: Path, size: str) -> None:
    """Grow (or shrink) a mounted tmpfs in place, keeping its files."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mountpoint)], check=True)


def unmount(mountpoint: Path) -> None:
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)
    mountpoint.rmdir()
