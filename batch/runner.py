"""The nightly runner: one batch a night with the `schedule` library, and a loop that survives.

`schedule` lets an exception inside a job kill the loop; here every run is wrapped, logged and
the loop goes on. On start-up a night that was missed (the machine was off at the set time) is
caught up at once. SIGTERM/SIGINT are honoured between filings, never in the middle of one.
"""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as clock_time
from typing import Callable

import schedule

from . import pipeline, store
from .config import load_config
from .home import Home
from .lock import Busy
from .mail import deliver_receipts, fetch_mail
from .outcome import RunOutcome

log = logging.getLogger("reguarantee")


@dataclass
class StopFlag:
    """Set by a signal; read by the pipeline between filings and by the loop between sleeps."""
    raised: bool = False
    signals: list[int] = field(default_factory=list)

    def __call__(self) -> bool:
        return self.raised

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame) -> None:
        self.raised = True
        self.signals.append(signum)
        log.warning("收到信号 %s：处理完当前文件后停止", signal.Signals(signum).name)


Nightly = Callable[[], object]


def nightly_job(home: Home, stop: StopFlag, before: Callable[[], None] = lambda: None,
                after: Callable[[object], None] = lambda result: None,
                today: Callable[[], date] = date.today) -> Nightly:
    """One guarded night: mail in (if configured), the batch, receipts out; never raises."""
    def job():
        try:
            before()
            result = pipeline.run_once(home, today(), options=pipeline.Options(
                wait_seconds=600, should_stop=stop))
            log.info("夜间运行结束：%s", getattr(result, "run_id", result))
            after(result)
            return result
        except Busy as busy:
            log.error("%s", busy)
        except pipeline.RunAborted as aborted:
            log.error("运行中止，未入账任何数据：\n%s", aborted)
        except Exception:                                      # the loop must live on
            log.exception("夜间运行出错；下一晚照常运行")
        return None
    return job


def mail_hooks(home: Home) -> tuple[Callable[[], None], Callable[[object], None]]:
    """Fetch members' mail before a night and send receipts after it, when [mail] is set up.

    Mail trouble is logged and never stops the batch: filings dropped in the inbox by hand are
    processed all the same, and unsent receipts wait in the queue for the next night.
    """
    config = load_config(home.root)

    def before() -> None:
        if config.mail.fetch_enabled:
            try:
                log.info("%s", fetch_mail(home, config, pipeline.load_params(home)).summary())
            except Exception:  # logged in full; mail trouble never stops the batch
                log.exception("收取邮件出错；本次只处理收件箱中已有的文件")

    def after(result: object) -> None:
        if config.mail.send_enabled:
            run = result if isinstance(result, RunOutcome) else None
            log.info("%s", deliver_receipts(home, config, run).summary())
    return before, after


def missed_tonight(home: Home, at: clock_time, now: datetime) -> bool:
    """True when today's run time has passed and the ledger has no run dated today."""
    if now.time() < at:
        return False
    with store.opened(home.ledger) as engine:
        last = store.last_run_date(engine)
    return last is None or last < now.date()


def serve(home: Home, at: str, job: Nightly, stop: StopFlag,
          now: Callable[[], datetime] = datetime.now, poll_seconds: float = 30.0,
          max_loops: int | None = None) -> None:
    """Run ``job`` every day at ``at`` until a signal arrives (or ``max_loops``, for tests)."""
    at_time = clock_time.fromisoformat(at)
    if missed_tonight(home, at_time, now()):
        log.warning("上次应在 %s 的运行没有进行，现在补跑", at)
        job()
    scheduler = schedule.Scheduler()
    scheduler.every().day.at(at).do(job)
    loops = 0
    while not stop() and (max_loops is None or loops < max_loops):
        scheduler.run_pending()
        loops += 1
        _sleep(poll_seconds, stop)
    log.info("夜间调度已停止")


def _sleep(seconds: float, stop: StopFlag) -> None:
    end = time.monotonic() + seconds
    while not stop() and time.monotonic() < end:
        time.sleep(min(0.5, seconds))
