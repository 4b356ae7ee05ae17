"""What an operator asks in the morning: did it run, what is waiting, what does the fund owe."""
from __future__ import annotations

import time

from . import intake, store
from .home import Home
from .lock import holder


def status_lines(home: Home) -> list[str]:
    with store.opened(home.ledger) as engine:
        return _lines(home, engine)


def _lines(home: Home, engine) -> list[str]:
    lines = ["最近的运行："]
    runs = store.recent_runs(engine, 5)
    lines += [f"  {r['run_id']}  处理日 {r['run_date']}  文件 {r['files']} 个"
              f"（{r['statuses'] or '无'}）" for r in runs] or ["  （还没有运行记录）"]
    ready, settling = intake.scan(home.inbox, time.time(), 0) if home.inbox.exists() else ([], [])
    lines.append(f"收件箱待处理：{len(ready) + len(settling)} 个文件")
    lines += [f"  {i.name}" for i in ready[:20]]
    fund = store.load_fund(engine)
    lines.append(f"资金账户余额：{fund.balance:,.2f} 元；待补偿 {len(fund.claims)} 笔，"
                 f"合计 {fund.pending:,.2f} 元")
    lines += [f"  {c.on} {c.member_id} {c.guarantee_id} 待补偿 {c.unpaid:,.2f} 元" for c in fund.claims]
    with engine.connect() as conn:
        lines += filter(None, [store.old_pages(conn)])
    held = holder(home.root)
    lines.append(f"运行锁：{'被占用 — ' + held if held else '空闲'}")
    return lines
