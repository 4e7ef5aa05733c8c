"""Which GPUs this machine has: :func:`detect_gpus` answers ``--gpus auto`` (NVML when ``nvidia-ml-py`` is
installed, else ``nvidia-smi -L``, else no GPU); :func:`verify_gpus` checks GPU indices given by hand against
the devices NVML sees."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from runyard.errors import UsageError

__all__ = ["detect_gpus", "nvml_device_count", "parse_smi_list", "verify_gpus"]

# --------------------------------------------------------------------------------- detection
_SMI_LINE = re.compile(r"^GPU\s+(\d+):.*?(?:\(UUID:\s*([^)\s]+)\))?\s*$")


def detect_gpus(*, environ: Mapping[str, str] | None = None) -> list[int]:
    """The GPU indices usable here, for ``--gpus auto``.

    NVML (``pynvml`` from nvidia-ml-py) when installed, else ``nvidia-smi -L``, else ``[]``.  When
    ``CUDA_VISIBLE_DEVICES`` is set (by SLURM, or by hand), only the GPUs it names are returned (by
    index or UUID; ``""`` or ``-1`` → none).  Never raises.
    """
    env = os.environ if environ is None else environ
    found = _detect_nvml()
    if found is None:
        found = _detect_smi()
    indices = [i for i, _ in found]
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return indices
    by_uuid = {u: i for i, u in found if u}
    out: list[int] = []
    for part in visible.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lstrip("-").isdigit():
            if int(part) < 0:  # CUDA stops at the first invalid index
                break
            if int(part) in indices and int(part) not in out:
                out.append(int(part))
        elif part in by_uuid:
            out.append(by_uuid[part])
        else:
            match = [i for u, i in by_uuid.items() if u.startswith(part)]
            if len(match) != 1:
                break
            out.append(match[0])
    return out


def nvml_device_count() -> int | None:
    """How many GPUs NVML sees on this machine (whatever ``CUDA_VISIBLE_DEVICES`` says), or None when NVML
    is not available (``nvidia-ml-py`` not installed, no driver)."""
    found = _detect_nvml()
    return None if found is None else len(found)


def verify_gpus(indices: Sequence[int], *, source: str, fake: bool = False) -> str | None:
    """Check GPU indices given by hand (``source``: where they come from, e.g. ``--gpus``) against the GPUs
    NVML sees. An index that does not exist raises :class:`UsageError`, unless ``fake`` (``--fake-gpus``:
    indices for testing on a machine without them). Returns one line to warn with, or None: the indices
    could not be verified (no NVML), or fake indices are used."""
    if not indices:
        return None
    listed = ",".join(str(i) for i in indices)
    count = nvml_device_count()
    if count is None:
        if fake:
            return None
        return (f"{source} {listed}: GPU indices not verified (NVML is not available here; "
                "install nvidia-ml-py to check them)")
    missing = [i for i in indices if i >= count]
    if not missing:
        return None
    seen = f"NVML sees {count} GPU{'s' if count != 1 else ''}" + (f" (indices 0-{count - 1})" if count > 1 else
                                                                   " (index 0)" if count == 1 else "")
    absent = ",".join(str(i) for i in missing)
    if fake:
        return f"{source} {listed}: no GPU {absent} here ({seen}); running with fake GPU indices (--fake-gpus)"
    raise UsageError(f"{source} {listed}: no GPU {absent} on this machine; {seen}. Use existing indices, "
                     "'auto' or 'none', or add --fake-gpus to run with indices that are not real GPUs (testing)")


def _detect_nvml() -> list[tuple[int, str]] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device, library missing: no GPU through NVML
        return None
    try:
        out = []
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append((i, uuid.decode() if isinstance(uuid, bytes) else str(uuid)))
        return out
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _detect_smi() -> list[tuple[int, str]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        proc = subprocess.run(
            [exe, "-L"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return parse_smi_list(proc.stdout)


def parse_smi_list(text: str) -> list[tuple[int, str]]:
    """``(index, uuid)`` for every ``GPU n: ... (UUID: ...)`` line of ``nvidia-smi -L`` output (MIG lines skipped)."""
    out = []
    for line in text.splitlines():
        m = _SMI_LINE.match(line.strip())
        if m:
            out.append((int(m.group(1)), m.group(2) or ""))
    return out
