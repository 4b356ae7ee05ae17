"""`reguarantee fetch-mail`: take members' e-mailed filings into the inbox now (the nightly run
does the same first when [mail] imap_host is set)."""
from __future__ import annotations

import click

from ..config import load_config
from ..home import Home
from .fetch import fetch_mail

EXIT_ABORTED = 2


@click.command("fetch-mail")
@click.pass_obj
def fetch_mail_command(home: Home) -> None:
    """Fetch unread mail into inbox/<member>/ (exit 0 all taken, 1 some refused, 2 could not fetch)."""
    try:
        config = load_config(home.root)
    except ValueError as error:
        click.echo(f"配置文件有误：{error}", err=True)
        raise SystemExit(EXIT_ABORTED)
    if not config.mail.fetch_enabled:
        click.echo("未配置收件服务器：请在 reguarantee.toml 的 [mail] 中设置 imap_host 等项", err=True)
        raise SystemExit(EXIT_ABORTED)
    from ..pipeline import RunAborted, load_params    # not at import: see cli's docstring
    try:
        params = load_params(home)
    except RunAborted as aborted:
        click.echo(f"无法读取基础数据，未收取邮件：\n{aborted}", err=True)
        raise SystemExit(EXIT_ABORTED)
    report = fetch_mail(home, config, params)
    click.echo(report.summary())
    raise SystemExit(report.exit_code)
