"""Content keys of step executions (DESIGN §3) and run identities."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from runyard.model import Params

KEY_VERSION = 1


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_key(*, experiment: str, step: str, template: str, workdir: str | None, params: Params,
             needs: Sequence[str], code: Mapping[str, str]) -> str:
    """hash(experiment, step, template, exactly the params it references, upstream keys, code hashes)."""
    return sha256_hex(canonical_json({
        "v": KEY_VERSION,
        "experiment": experiment,
        "step": step,
        "template": template,
        "workdir": workdir,
        "params": dict(params),
        "needs": list(needs),
        "code": dict(code),
    }))


def run_id(experiment: str, params: Params) -> str:
    return sha256_hex(canonical_json({"experiment": experiment, "params": dict(params)}))


def code_hash(code: Mapping[str, str]) -> str:
    """One hash for a step's code files (``""`` when it declares none): ``StepExec.code``."""
    return sha256_hex(canonical_json(dict(code))) if code else ""
