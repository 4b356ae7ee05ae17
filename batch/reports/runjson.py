"""run.json: the machine-readable summary of one run (contract.md, "What a run writes").

Money is a string with two decimals (never a float), counts are ints, times are ISO 8601.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from .. import schema
from ..money import round_fen, yuan_text
from ..outcome import FilingOutcome, RunOutcome
from .figures import file_issues, totals
from .xlsx import atomic_path


def write_run_json(path: Path, run: RunOutcome) -> None:
    """Write run.json for ``run`` to ``path`` (atomically), UTF-8, Chinese kept as is."""
    text = json.dumps(run_document(run), ensure_ascii=False, indent=2) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def run_document(run: RunOutcome) -> dict[str, object]:
    return {
        "run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "exit_code": run.exit_code,
        "files": [file_document(f) for f in run.filings],
        "totals": {key: json_value(value) for key, value in totals(run).items()},
    }


def file_document(f: FilingOutcome) -> dict[str, object]:
    return {
        "name": f.path,
        "sha256": f.filing.sha256,
        "member": f.member_id,
        "period": f.period,
        "kind": f.kind,
        "status": f.status,
        "rows": {s.key: dict(zip(("accepted", "rejected"), f.counts(s.key)))
                 for s in schema.DATA_SHEETS},
        "receipt": f.receipt,
        "destination": f.destination,
        "duplicate_of": f.duplicate_of,
        "issues": [{"code": i.code, "message": i.message, "where": i.where.render()}
                   for i in file_issues(f) if i.is_error],
    }


def json_value(value: object) -> object:
    """Money (Decimal) as its two-decimal string; ints stay ints; anything else as text."""
    if isinstance(value, Decimal):
        return yuan_text(round_fen(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)
