"""The nightly operation: lock, intake, stop between filings, scheduler, catch-up, status."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import openpyxl

from batch import pipeline, runner, store, work
from batch.home import Home
from batch.lock import HomeLock, holder
from batch.status import status_lines
from batch.upkeep import backup_ledger
from test_crash import ledger, make_home, run

LO_HOME = Path(__file__).parent / "fixtures" / "lo_home"
RUN_DATE = date(2026, 3, 31)


def lo_home(tmp_path: Path) -> Home:
    shutil.copytree(LO_HOME, tmp_path / "home")
    old = datetime(2026, 3, 30).timestamp()
    for p in (tmp_path / "home" / "inbox").rglob("*"):
        os.utime(p, (old, old))
    return Home(tmp_path / "home")


def test_a_second_run_on_a_locked_home_exits_with_a_clear_message(tmp_path):
    home = lo_home(tmp_path)
    with HomeLock(home.root):
        assert "pid" in holder(home.root)
        result = subprocess.run([sys.executable, "-m", "batch", "--home", str(home.root), "run",
                                 "--date", "2026-03-31", "--settle", "0"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "另一个运行正在处理" in result.stderr
        assert len(list((home.inbox).rglob("*.*"))) == 3        # nothing taken
    assert holder(home.root) == ""


def test_a_waiting_run_goes_on_when_the_lock_is_released(tmp_path):
    home = lo_home(tmp_path)
    lock = HomeLock(home.root).__enter__()
    threading.Timer(1.0, lock.__exit__, (None, None, None)).start()
    started = time.monotonic()
    result = pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0,
                                                                        wait_seconds=30))
    assert time.monotonic() - started >= 0.9
    assert len(result.filings) == 3


def test_two_runs_started_at_once_never_interleave(tmp_path):
    clean = make_home(tmp_path / "clean")
    assert run(clean).returncode == 1
    root = make_home(tmp_path / "race")
    env = {k: v for k, v in os.environ.items() if k != "REGUARANTEE_CRASH_AT"}
    cmd = [sys.executable, "-m", "batch", "--home", str(root), "run", "--date", "2026-03-31",
           "--settle", "0"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes in ([0, 1], [1, 2])      # one ran; the other found nothing, or found the lock
    assert ledger(root) == ledger(clean)
    assert len([p for p in (root / "outbox").iterdir() if not p.name.startswith(".")]) == 1


def test_files_still_being_written_and_office_lock_files_are_left(tmp_path):
    home = lo_home(tmp_path)
    for name in ("~$M001_2026-03.xlsx", ".~lock.M001_2026-03.xlsx#", "upload.xlsx.part"):
        (home.inbox / "M001" / name).write_bytes(b"partial")
    fresh = home.inbox / "M003_2026-03.ods"
    os.utime(fresh, None)                                        # modified just now
    result = pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=60))
    assert sorted(f.path for f in result.filings) == ["M001/M001_2026-03.xlsx",
                                                      "M002/M002_2026-03.xls"]
    left = sorted(p.name for p in home.inbox.rglob("*") if p.is_file())
    assert left == sorted([".~lock.M001_2026-03.xlsx#", "M003_2026-03.ods", "upload.xlsx.part",
                           "~$M001_2026-03.xlsx"])


def test_a_stop_signal_ends_the_run_between_filings(tmp_path, monkeypatch):
    home = lo_home(tmp_path)
    flag = runner.StopFlag()
    flag.install()
    real_read = work.read_filing

    def read_then_signal(*args, **kw):
        os.kill(os.getpid(), signal.SIGTERM)        # arrives while the first filing is read
        return real_read(*args, **kw)
    monkeypatch.setattr(work, "read_filing", read_then_signal)
    try:
        result = pipeline.run_once(home, RUN_DATE, options=pipeline.Options(
            settle_seconds=0, should_stop=flag))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert flag.signals == [signal.SIGTERM]
    assert [f.status for f in result.filings] == ["partial"]    # finished, posted, archived
    assert result.totals["new_count"] == 2
    assert len([p for p in home.inbox.rglob("*") if p.is_file()]) == 2
    run_json = json.loads((home.outbox / result.run_id / "run.json").read_text("utf-8"))
    assert len(run_json["files"]) == 1
    monkeypatch.setattr(work, "read_filing", real_read)
    again = pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0))
    assert len(again.filings) == 2


def test_a_failing_night_is_logged_and_the_loop_lives_on(tmp_path, caplog):
    home = Home(tmp_path / "empty")                               # no reference workbook
    calls = []

    def before():
        calls.append("before")
        if len(calls) == 1:
            raise RuntimeError("mail server down")
    job = runner.nightly_job(home, runner.StopFlag(), before=before, today=lambda: RUN_DATE)
    assert job() is None and job() is None                      # neither raised
    assert "夜间运行出错" in caplog.text and "运行中止" in caplog.text
    assert calls == ["before", "before"]


def test_a_missed_night_is_caught_up_at_start(tmp_path):
    home = lo_home(tmp_path)
    nights = []
    stop = runner.StopFlag()

    def job():
        nights.append(pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0)))
        stop.raised = True
    runner.serve(home, "02:00", job, stop, now=lambda: datetime(2026, 3, 31, 8, 0),
                 poll_seconds=0.01, max_loops=3)
    assert len(nights) == 1 and len(nights[0].filings) == 3
    assert store.last_run_date(store.open_engine(home.ledger)) == RUN_DATE
    assert not runner.missed_tonight(home, datetime.strptime("02:00", "%H:%M").time(),
                                     datetime(2026, 3, 31, 9, 0))
    assert runner.missed_tonight(home, datetime.strptime("02:00", "%H:%M").time(),
                                 datetime(2026, 4, 1, 9, 0))
    assert not runner.missed_tonight(home, datetime.strptime("02:00", "%H:%M").time(),
                                     datetime(2026, 4, 1, 1, 0))


def test_status_and_backup(tmp_path):
    home = lo_home(tmp_path)
    pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0))
    (home.inbox / "M001" / "next.xlsx").write_bytes(b"x")
    text = "\n".join(status_lines(home))
    assert "文件 3 个" in text and "收件箱待处理：1 个文件" in text
    assert "222,587,500.00" in text and "运行锁：空闲" in text
    copy = backup_ledger(home, tmp_path / "backup.db")
    restored = store.load(store.open_engine(f"sqlite:///{copy}"))
    assert restored.fund.balance == store.load(store.open_engine(home.ledger)).fund.balance


def test_a_correction_receipt_lists_what_changed(tmp_path):
    root = make_home(tmp_path / "home")
    run(root)
    folder = next(p for p in (root / "outbox").iterdir() if not p.name.startswith("."))
    doc = json.loads((folder / "run.json").read_text("utf-8"))
    receipt = next(f["receipt"] for f in doc["files"] if f["kind"] == "更正")
    ws = openpyxl.load_workbook(folder / receipt)["更正对比"]
    rows = [r for r in ws.iter_rows(values_only=True)]
    assert rows[0][:3] == ("业务类型", "业务编号", "变动")
    assert ("新增备案", "W001", "撤销", 1000000, 0, -1000000) == rows[1][:6]
    assert ("还款解保", "W001", "撤销", 200000, 0, -200000) == rows[2][:6]
