"""Thin click commands: parse, one call, print, exit code.

Only this module (and the runner) reads the clock and the environment; everything below gets the
run date passed in. A command imports what it runs when it runs: a night's worker processes are
spawned and import this module again, and should not pay for the pipeline and SQLAlchemy.
"""
from __future__ import annotations

import logging
import os
import sys
from datetime import date
from pathlib import Path

import click

from .home import Home
from .lock import Busy
from .mail.commands import fetch_mail_command
from .runlog import FORMAT, LOGGER

EXIT_CLEAN, EXIT_REJECTIONS, EXIT_ABORTED = 0, 1, 2


def _date(_ctx, _param, value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("日期格式应为 YYYY-MM-DD") from None


@click.group()
@click.option("--home", "home_dir", envvar="REGUARANTEE_HOME", type=click.Path(file_okay=False),
              default=".", show_default=True, help="Working home (REGUARANTEE_HOME).")
@click.option("--ledger", envvar="REGUARANTEE_LEDGER", default="",
              help="SQLAlchemy URL of the ledger (default: sqlite file ledger.db in the home).")
@click.pass_context
def cli(ctx: click.Context, home_dir: str, ledger: str) -> None:
    """reguarantee: the nightly batch of the provincial re-guarantee system."""
    ctx.obj = Home(Path(home_dir), ledger)


def _track(items):
    """A progress bar on a terminal, nothing in a log."""
    if not sys.stderr.isatty() or len(items) < 2:
        return items
    return _Bar(items)


class _Bar:
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        with click.progressbar(self.items, label="处理报送文件", file=sys.stderr) as bar:
            yield from bar


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        logger.addHandler(handler)


class KillSwitch:
    """Test hook: REGUARANTEE_CRASH_AT=N ends the process at the N-th step, as kill -9 would."""

    def __init__(self, at: str | None):
        self.at, self.count = int(at) if at else 0, 0

    def __call__(self, step: str) -> None:
        self.count += 1
        if self.count == self.at:
            os._exit(137)


@cli.command("run")
@click.option("--date", "run_date", callback=_date, help="Run date (default today).")
@click.option("--settle", type=float, default=None,
              help="Seconds a file must stay unchanged before it is taken (default: the home's setting, 5).")
@click.option("--wait", type=float, default=0.0, show_default=True,
              help="Seconds to wait for another run on this home to finish.")
@click.option("--mail/--no-mail", default=True, show_default=True,
              help="Fetch mail first and send receipts after, when [mail] is configured.")
@click.pass_obj
def run_cmd(home: Home, run_date: date, settle: float | None, wait: float, mail: bool) -> None:
    """Process every waiting filing once (exit 0 clean, 1 rows rejected, 2 could not run)."""
    from . import pipeline, runner
    _log_to_stderr()
    stop = runner.StopFlag()
    stop.install()
    options = pipeline.Options(settle_seconds=settle, wait_seconds=wait, track=_track,
                               should_stop=stop,
                               fault=KillSwitch(os.environ.get("REGUARANTEE_CRASH_AT")))
    before, after = runner.mail_hooks(home) if mail else (lambda: None, lambda result: None)
    try:
        before()
        result = pipeline.run_once(home, run_date, options=options)
        after(result)
    except Busy as busy:
        click.echo(str(busy), err=True)
        raise SystemExit(EXIT_ABORTED)
    except pipeline.RunAborted as aborted:
        click.echo(f"运行中止，未入账任何数据：\n{aborted}", err=True)
        raise SystemExit(EXIT_ABORTED)
    click.echo(result.summary() if isinstance(result, pipeline.NoRun) else describe(result, home))
    raise SystemExit(result.exit_code)


@cli.command("schedule")
@click.option("--at", "at", default="02:00", show_default=True, help="Time of the nightly run (HH:MM).")
@click.pass_obj
def schedule_cmd(home: Home, at: str) -> None:
    """Keep running: one batch a night at --at, a missed night caught up at start-up."""
    from . import runner
    _log_to_stderr()
    stop = runner.StopFlag()
    stop.install()
    before, after = runner.mail_hooks(home)
    click.echo(f"夜间调度已启动：每天 {at} 运行一次（Ctrl+C 或 SIGTERM 停止）", err=True)
    runner.serve(home, at, runner.nightly_job(home, stop, before, after), stop)


@cli.command("status")
@click.pass_obj
def status_cmd(home: Home) -> None:
    """The last runs, files waiting, pending fund claims and any lock held."""
    from .status import status_lines
    for line in status_lines(home):
        click.echo(line)


@cli.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@click.pass_obj
def backup_cmd(home: Home, target: str) -> None:
    """Copy the SQLite ledger with SQLite's online backup (safe while a run is going on)."""
    from .upkeep import backup_ledger
    click.echo(f"已备份台账到 {backup_ledger(home, Path(target))}")


@cli.command("compact")
@click.pass_obj
def compact_cmd(home: Home) -> None:
    """Rewrite the SQLite ledger once after an upgrade: current page size, no free pages."""
    from .upkeep import compact_ledger
    try:
        before, after = compact_ledger(home)
    except Busy as busy:
        click.echo(str(busy), err=True)
        raise SystemExit(EXIT_ABORTED)
    click.echo(f"台账已整理：页大小 {before} → {after} 字节")


def describe(result, home: Home) -> str:
    """A few lines for the operator: what was taken, what was written where."""
    by_status: dict[str, int] = {}
    for f in result.filings:
        by_status[f.status] = by_status.get(f.status, 0) + 1
    folder = home.outbox / result.run_id
    lines = [f"运行 {result.run_id}（处理日 {result.run_date}）：{len(result.filings)} 个文件 "
             + "，".join(f"{k} {v}" for k, v in sorted(by_status.items())),
             f"新增备案 {result.totals['new_count']} 笔，贷款 {result.totals['new_loan_principal']:,.2f} 元；"
             f"资金账户 {result.fund_opening:,.2f} → {result.fund_closing:,.2f} 元，"
             f"待补偿 {result.fund_pending:,.2f} 元",
             f"输出：{folder}"]
    return "\n".join(lines)


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_obj
def init_cmd(home: Home, directory: str | None) -> None:
    """Make a home: folders, a reference workbook with the default product rules, templates."""
    from .setup import init_home
    target = Home(Path(directory), home.ledger_url) if directory else home
    for line in init_home(target):
        click.echo(line)


@cli.command("templates")
@click.pass_obj
def templates_cmd(home: Home) -> None:
    """Regenerate the blank filing and reference templates in templates/."""
    from .setup import write_templates
    for path in write_templates(home):
        click.echo(f"已生成 {path}")


@cli.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--member", default=None, help="Member the file must belong to (as inbox/<id>/).")
@click.option("--date", "run_date", callback=_date, help="Check as of this date (default today).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Receipt path.")
@click.pass_obj
def check_cmd(home: Home, file: str, member: str | None, run_date: date, out: str | None) -> None:
    """Validate one filing against the ledger and write its receipt; posts nothing."""
    from .check import check_file
    from .pipeline import RunAborted
    try:
        outcome, receipt = check_file(home, Path(file), run_date, member, Path(out) if out else None)
    except RunAborted as aborted:
        click.echo(f"无法检查：\n{aborted}", err=True)
        raise SystemExit(EXIT_ABORTED)
    accepted = sum(r.accepted for rows in outcome.rows.values() for r in rows)
    total = sum(len(rows) for rows in outcome.rows.values())
    click.echo(f"{outcome.path}：{outcome.status}，{accepted}/{total} 行通过；回执 {receipt}")
    for issue in outcome.issues:
        click.echo(f"  {issue.render()}")
    raise SystemExit(EXIT_CLEAN if outcome.status == "accepted" else EXIT_REJECTIONS)


@cli.command("demo")
@click.argument("directory", required=False, default="demo-home", type=click.Path(file_okay=False))
def demo_cmd(directory: str) -> None:
    """Build a home full of realistic sample data, run its nights, say what was written where."""
    from .demo import run_demo
    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        raise click.UsageError(f"{root} 已存在且不为空；请换一个目录或先删除它")
    outcomes = run_demo(root)
    for result in outcomes:
        click.echo(describe(result, Home(root)))
    click.echo(f"\n演示目录：{root.resolve()}（回执在 outbox/<运行号>/回执/，台账 ledger.db）")


cli.add_command(fetch_mail_command)


def main() -> None:
    cli(prog_name="reguarantee")


if __name__ == "__main__":
    main()
