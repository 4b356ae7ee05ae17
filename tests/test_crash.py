"""Kill the run at every step (as kill -9 would), run it again: the same as one clean run.

Each crash is a real process ended by os._exit at the N-th step of the pipeline (the
REGUARANTEE_CRASH_AT hook); the rerun is a plain `reguarantee run`. The ledger, run.json, every
output workbook and where every input file went are compared with an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from batch.reports.templates import write_filing_template

LO_HOME = Path(__file__).parent / "fixtures" / "lo_home"
RUN_DATE = "2026-03-31"


_TEMPLATE: list[Path] = []


def make_home(root: Path) -> Path:
    """A copy of one home built once, so every copy holds byte-identical filings."""
    if not _TEMPLATE:
        import tempfile
        _TEMPLATE.append(build_home(Path(tempfile.mkdtemp()) / "home"))
    shutil.copytree(_TEMPLATE[0], root)
    inbox = root / "inbox"
    old = datetime(2026, 3, 30).timestamp()
    order = sorted((p for p in inbox.rglob("*") if p.is_file()),
                   key=lambda p: ("更正" in p.name, "还款" in p.name, p.as_posix()))
    for i, path in enumerate(order):
        os.utime(path, (old + i, old + i))        # a fixed filing order, the correction last
    return root


def build_home(root: Path) -> Path:
    shutil.copytree(LO_HOME, root)
    inbox = root / "inbox"
    shutil.copy(inbox / "M003_2026-03.ods", inbox / "M003_again.ods")           # duplicate bytes
    (inbox / "M002" / "不是工作簿.xlsx").write_text("这不是 Excel 文件", encoding="utf-8")
    cover = {"member_id": "M002", "member_name": "青岛市融资担保有限公司", "period": "2026-03",
             "kind": "正常"}
    rows = {"repay": [{"guarantee_id": "Q001", "date": date(2026, 3, 20),
                       "principal": D("500000.00"), "settled": False}]}
    write_filing_template(inbox / "M002" / "M002_还款.xlsx", cover=cover, rows=rows)
    fixed = {**cover, "member_id": "M003", "member_name": "潍坊市农业信贷担保有限公司", "kind": "更正"}
    write_filing_template(inbox / "M003" / "M003_更正.xlsx", cover=fixed, rows={"new": []})
    old = datetime(2026, 3, 30).timestamp()
    order = sorted((p for p in inbox.rglob("*") if p.is_file()), key=lambda p: ("更正" in p.name, "还款" in p.name, p.as_posix()))
    for i, path in enumerate(order):
        os.utime(path, (old + i, old + i))        # a fixed filing order, the correction last
    return root


def run(root: Path, crash_at: int | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "REGUARANTEE_CRASH_AT"}
    if crash_at:
        env["REGUARANTEE_CRASH_AT"] = str(crash_at)
    return subprocess.run([sys.executable, "-m", "batch", "--home", str(root), "run",
                           "--date", RUN_DATE, "--settle", "0"], env=env, capture_output=True,
                          text=True, timeout=120)


def ledger(root: Path) -> dict:
    engine = create_engine(f"sqlite:///{root / 'ledger.db'}")
    drop = {"id", "seq", "run_id", "started_at", "finished_at"}
    out = {}
    with engine.connect() as conn:
        for table in ("runs", "files", "postings", "fund_moves", "claims", "withdrawn",
                      "fund_days", "pending_claims"):
            rows = [tuple((k, v) for k, v in r._mapping.items() if k not in drop)
                    for r in conn.execute(text(f"select * from {table} order by "
                                               + ('"on"' if table == "fund_days" else "rowid")))]
            out[table] = rows
    return out


def workbook(path: Path, run_id: str) -> list:
    def cell(v):
        if isinstance(v, str):
            return v.replace(run_id, "RUN")
        if isinstance(v, datetime) and v.time() != datetime.min.time():
            return "TIME"
        return v
    return [(ws.title, [tuple(cell(v) for v in r) for r in ws.iter_rows(values_only=True)])
            for ws in openpyxl.load_workbook(path)]


def snapshot(root: Path) -> dict:
    runs = sorted(p for p in (root / "outbox").iterdir() if not p.name.startswith("."))
    assert len(runs) == 1, [p.name for p in runs]
    folder, run_id = runs[0], runs[0].name
    doc = json.loads((folder / "run.json").read_text("utf-8"))
    for key in ("run_id", "started_at", "finished_at"):
        doc.pop(key)
    outputs = {p.relative_to(folder).as_posix(): workbook(p, run_id)
               for p in sorted(folder.rglob("*.xlsx"))}
    placed = sorted(p.relative_to(root).as_posix() for d in ("archive", "quarantine", "inbox")
                    for p in (root / d).rglob("*") if p.is_file())
    return {"ledger": ledger(root), "run.json": doc, "outputs": outputs, "files": placed,
            "log": (folder / "run.log").exists(), "hidden": sorted(
                p.name for p in (root / "outbox").iterdir() if p.name.startswith("."))}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = make_home(tmp_path_factory.mktemp("clean") / "home")
    result = run(root)
    assert result.returncode == 1, result.stderr
    return snapshot(root)


def test_clean_run_is_what_we_expect(clean):
    statuses = sorted(f["status"] for f in clean["run.json"]["files"])
    assert statuses == ["accepted", "accepted", "accepted", "duplicate", "partial", "partial",
                        "rejected"]
    assert not [f for f in clean["files"] if f.startswith("inbox/")]
    assert clean["ledger"]["withdrawn"], "the correction withdrew the earlier M003 filing"


STEPS = 27     # loaded, 7 filings taken, 7 receipts, 3 reports, commit, publish, 7 moves


@pytest.mark.parametrize("crash_at", range(1, STEPS + 1))
def test_kill_at_any_step_then_rerun_equals_a_clean_run(crash_at, clean, tmp_path):
    root = make_home(tmp_path / "home")
    crashed = run(root, crash_at)
    assert crashed.returncode == 137, (crash_at, crashed.stdout, crashed.stderr)
    rerun = run(root)
    # after the last step everything was done: the rerun finds nothing to do
    assert rerun.returncode == (0 if crash_at == STEPS else 1), rerun.stderr
    assert snapshot(root) == clean


def test_the_kill_points_cover_the_whole_run(tmp_path_factory):
    """Every step is a kill point above: asking to crash after the last one changes nothing."""
    root = make_home(tmp_path_factory.mktemp("steps") / "home")
    assert run(root, STEPS + 1).returncode == 1
    root2 = make_home(tmp_path_factory.mktemp("steps2") / "home")
    assert run(root2, STEPS).returncode == 137
