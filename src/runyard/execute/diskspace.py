"""A full disk under home is an error of its own, never a hang nor a traceback (DESIGN §12).

Writing a step's folder, ``meta.json``, a run folder or a provenance file raises :class:`DiskFull`
(``ENOSPC``, ``EDQUOT``, ``EIO``) through :func:`writing`. A step that failed because *it* could not
write its log or metrics file only shows an exit code: :func:`full_after_exit` tells that case apart
by looking at the free space of the file system of its execution folder (one ``statvfs``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from runyard.errors import DiskFull


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an out-of-space ``OSError`` raised in the block into :class:`DiskFull` naming ``path``."""
    try:
        yield
    except OSError as err:
        full = DiskFull.of(err, path)
        if full is None:
            raise
        raise full from err


def no_space_left(folder: str) -> bool:
    """Whether the file system of ``folder`` has no block (or no inode) left for this user."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    privileged = hasattr(os, "geteuid") and os.geteuid() == 0
    blocks = st.f_bfree if privileged else st.f_bavail  # root may use the reserved blocks
    inodes = st.f_ffree if privileged else st.f_favail
    return blocks == 0 or (st.f_files > 0 and inodes == 0)


def full_after_exit(folder: str, candidates: list[str]) -> DiskFull | None:
    """A step that exited non-zero with its file system full most likely failed writing: the
    :class:`DiskFull` naming the biggest of ``candidates`` (its log, its metrics file), or None."""
    if not no_space_left(folder):
        return None
    sizes = []
    for path in candidates:
        with contextlib.suppress(OSError):
            sizes.append((os.stat(path).st_size, path))
    return DiskFull(max(sizes)[1] if sizes else folder)
