"""The ledger on PostgreSQL (a real server on 127.0.0.1): a night there is the night on SQLite.

The same homes run once with the embedded SQLite ledger and once with a PostgreSQL URL; run.json,
every workbook, where every file went and every row of every ledger table must be the same. The
crash test's home covers a correction, duplicate bytes and a broken file on an empty ledger; the
generated one, a ledger already holding guarantees (fetched, repaid, defaulted) and worker
processes reading.
"""
from __future__ import annotations

import json
import shutil
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from batch import guarantee, pipeline, store, tables
from batch.home import Home
from pgserver import PostgresServer
from test_crash import make_home, workbook
from test_parallel import ROOT, generated_home, template  # noqa: F401 -- template: built once

NOT_COMPARED = {"id", "seq", "run_id", "started_at", "finished_at"}


@pytest.fixture(scope="module")
def server():
    running = PostgresServer().start()
    yield running
    running.stop()


def run(root: Path, url: str, workers: int):
    return pipeline.run_once(Home(root, url), date(2026, 3, 31),
                             clock=lambda: datetime(2027, 1, 1, 2),
                             options=pipeline.Options(settle_seconds=0, workers=workers))


def outputs(root: Path) -> dict:
    (folder,) = [p for p in (root / "outbox").iterdir() if not p.name.startswith(".")]
    doc = json.loads((folder / "run.json").read_text("utf-8"))
    for key in ("run_id", "started_at", "finished_at"):
        doc.pop(key)
    placed = sorted(p.relative_to(root).as_posix() for d in ("archive", "quarantine", "inbox")
                    for p in (root / d).rglob("*") if p.is_file())
    return {"run.json": doc, "files": placed,
            "workbooks": {p.relative_to(folder).as_posix(): workbook(p, folder.name)
                          for p in sorted(folder.rglob("*.xlsx"))}}


def ledger(url: str) -> dict:
    """Every table's rows, as values (the run's id and the row ids differ by design)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {t.name: sorted(repr(tuple((k, v) for k, v in r._mapping.items()
                                           if k not in NOT_COMPARED))
                                for r in conn.execute(select(t)))
                 for t in tables.meta.sorted_tables}
    engine.dispose()
    return found


def test_a_night_on_postgresql_is_the_night_on_sqlite(server, tmp_path):
    lite, pg = make_home(tmp_path / "lite"), make_home(tmp_path / "pg")
    url = server.database("crash")
    assert run(lite, "", 0).exit_code == run(pg, url, 0).exit_code == 1
    assert outputs(pg) == outputs(lite)
    kept = ledger(url)
    assert kept == ledger(Home(lite).ledger)
    assert kept["postings"] and kept["fund_moves"] and kept["withdrawn"]


def test_on_a_held_ledger_with_workers_too(server, template, tmp_path):  # noqa: F811
    sys.path.insert(0, str(ROOT))
    from bench.seed import seed_ledger
    lite, pg = tmp_path / "lite", tmp_path / "pg"
    shutil.copytree(template, lite)
    shutil.copytree(template, pg)
    (pg / "ledger.db").unlink()
    url = server.database("held")
    seed_ledger(url, pipeline.load_params(Home(pg)), 3, 400)
    store.open_engine(url).dispose()
    assert ledger(url) == ledger(Home(lite).ledger)         # the same ledger to start from
    assert run(lite, "", 0).exit_code == run(pg, url, 2).exit_code
    assert outputs(pg) == outputs(lite)
    kept = ledger(url)
    assert kept == ledger(Home(lite).ledger)
    assert kept["pending_claims"] or kept["fund_days"]


def test_with_every_guarantee_state_kept_too(server, tmp_path, monkeypatch):
    """REPLAY_LIMIT 0, so every guarantee's state is kept: seeding writes them and the night
    reads and upserts them on PostgreSQL exactly as on SQLite."""
    sys.path.insert(0, str(ROOT))
    from bench.seed import seed_ledger
    monkeypatch.setattr(guarantee, "REPLAY_LIMIT", 0)
    lite, pg = generated_home(tmp_path / "lite"), tmp_path / "pg"
    shutil.copytree(lite, pg)
    (pg / "ledger.db").unlink()
    url = server.database("kept")
    seed_ledger(url, pipeline.load_params(Home(pg)), 3, 400)
    store.open_engine(url).dispose()
    assert ledger(url) == ledger(Home(lite).ledger)
    assert run(lite, "", 0).exit_code == run(pg, url, 0).exit_code
    assert outputs(pg) == outputs(lite)
    kept = ledger(url)
    assert kept == ledger(Home(lite).ledger) and len(kept["guarantee_states"]) > 1000


def test_the_command_line_takes_the_ledger_url_from_the_environment(server, tmp_path,
                                                                    monkeypatch):
    """REGUARANTEE_LEDGER (as a systemd unit would set it): `run` posts there, `status` reads
    the fund from there, and `backup`, which is SQLite's, says to use the server's own tool."""
    from click.testing import CliRunner

    from batch.cli import cli
    home = make_home(tmp_path / "home")
    url = server.database("cli")
    monkeypatch.setenv("REGUARANTEE_LEDGER", url)
    runner = CliRunner()
    done = runner.invoke(cli, ["--home", str(home), "run", "--date", "2026-03-31", "--settle", "0",
                               "--no-mail"])
    assert done.exit_code == 1, done.output
    assert not (home / "ledger.db").exists()
    assert ledger(url)["runs"]
    status = runner.invoke(cli, ["--home", str(home), "status"])
    fund = store.load_fund(store.open_engine(url))
    assert f"资金账户余额：{fund.balance:,.2f} 元" in status.output and fund.balance > 0
    backup = runner.invoke(cli, ["--home", str(home), "backup", str(tmp_path / "copy.db")])
    assert backup.exit_code != 0 and "pg_dump" in backup.output
