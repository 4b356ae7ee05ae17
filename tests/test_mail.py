"""Members e-mail their filings; receipts go back by e-mail — against a real Dovecot and a real
SMTP server on 127.0.0.1 (tests/mailserver.py), not mocks."""
from __future__ import annotations

import base64
import hashlib
import shutil
import time
import urllib.parse
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch import intake, pipeline
from batch.config import Config, Mail
from batch.home import Home
from batch.mail import deliver_receipts, fetch_mail
from batch.mail import imapbox
from batch.mail.commands import fetch_mail_command
from batch.mail.journal import Journal
from batch.mail.message import read_message
from batch.mail.names import safe_name
pytest.register_assert_rewrite("mailserver")
from mailserver import SMTP_PASSWORD, SMTP_USER, SmtpSink, free_port  # noqa: E402

pytest_plugins = ["mailserver"]          # the imap_server, imap_account, smtp_*server fixtures
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

LO_HOME = Path(__file__).parent / "fixtures" / "lo_home"
FILING = LO_HOME / "inbox" / "M001" / "M001_2026-03.xlsx"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RUN_DATE = date(2026, 3, 31)
OUR_ADDRESS = "baosong@reguarantee.test"


# ---- the world: a home, settings, messages ------------------------------------------------

@pytest.fixture
def home(tmp_path) -> Home:
    """The LO fixture home with an empty inbox: filings arrive by mail only."""
    root = tmp_path / "home"
    shutil.copytree(LO_HOME, root)
    for path in (root / "inbox").rglob("*"):
        if path.is_file():
            path.unlink()
    return Home(root)


@pytest.fixture
def params(home):
    return pipeline.load_params(home)


@pytest.fixture
def passwords(monkeypatch, imap_account):
    monkeypatch.setenv("REGUARANTEE_IMAP_PASSWORD", imap_account.password)
    monkeypatch.setenv("REGUARANTEE_SMTP_PASSWORD", SMTP_PASSWORD)


def settings(imap_server, account, smtp_port: int | None = None, **mail) -> Config:
    values = dict(imap_host="127.0.0.1", imap_port=imap_server.port, imap_security="none",
                  imap_user=account.user, smtp_host="127.0.0.1" if smtp_port else "",
                  smtp_port=smtp_port or 587, smtp_security="none", sender=OUR_ADDRESS)
    return Config(mail=Mail(**(values | mail)))


def message_id(sender: str, subject: str) -> str:
    return f"<{hashlib.sha1(f'{sender}/{subject}'.encode()).hexdigest()[:12]}@member.test>"


def message(sender: str, attachments=(), subject: str = "3月业务报送", **headers) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, OUR_ADDRESS, subject
    msg["Message-ID"] = message_id(sender, subject)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("附件是本月的业务报送表，请查收。")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype=XLSX.split("/")[1], filename=name)
    return msg.as_bytes()


def raw_message(sender: str, dispositions: list[bytes], data: bytes) -> bytes:
    """A hand-written MIME message, for file-name encodings no library would produce."""
    body = base64.encodebytes(data)
    parts = [b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"]
    for disposition in dispositions:
        parts.append(b"--B\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Transfer-Encoding: base64\r\nContent-Disposition: " + disposition
                     + b"\r\n\r\n" + body)
    return (f"From: {sender}\r\nTo: {OUR_ADDRESS}\r\nSubject: names\r\nMessage-ID: <names@m>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n").encode() \
        + b"".join(parts) + b"--B--\r\n"


def inbox_files(home: Home) -> list[Path]:
    return sorted(p for p in home.inbox.rglob("*") if p.is_file())


def run(home: Home):
    return pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0))


# ---- fetching -----------------------------------------------------------------------------

def test_good_filing_is_saved_marked_seen_and_processed(home, params, imap_server, imap_account,
                                                       passwords):
    imap_server.append(imap_account, message("M001 <M001@Example.cn>",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    report = fetch_mail(home, settings(imap_server, imap_account), params)

    assert report.exit_code == 0 and not report.refused, report.summary()
    [saved] = report.saved
    assert saved.sender == "m001@example.cn" and saved.member_id == "M001"
    [path] = inbox_files(home)
    assert path.parent == home.inbox / "M001" and path.name.startswith("M001_2026-03_")
    assert path.read_bytes() == FILING.read_bytes()
    assert imap_server.flags(imap_account) == [{"\\Seen"}]
    ready, _settling = intake.scan(home.inbox, time.time(), settle_seconds=5.0)
    assert [i.path for i in ready] == [path]              # complete on arrival: no settle wait

    outcome = run(home)
    assert [(f.path, f.status) for f in outcome.filings] == [(saved.name, "partial")]
    assert not inbox_files(home)


def test_unknown_sender_gets_a_polite_reply_and_nothing_reaches_the_inbox(
        home, params, imap_server, imap_account, passwords, smtp_server):
    imap_server.append(imap_account, message("stranger@example.com",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    config = settings(imap_server, imap_account, smtp_server.port)
    report = fetch_mail(home, config, params)

    assert not report.saved and not inbox_files(home)
    assert [(r.sender, r.reason, r.replied) for r in report.refused] == [
        ("stranger@example.com", "unknown_sender", True)]
    assert report.exit_code == 1
    assert imap_server.flags(imap_account) == [{"\\Seen", "\\Flagged"}]   # set aside, findable
    [(mail_from, to, _raw)] = smtp_server.received
    assert mail_from == OUR_ADDRESS and to == ["stranger@example.com"]
    [reply] = smtp_server.messages
    assert reply["Subject"] == "报送未受理：3月业务报送" and reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"]
    assert "未登记为任何再担保体系成员的报送邮箱" in reply.get_content()

    again = fetch_mail(home, config, params)                   # not taken, not answered twice
    assert not again.refused and len(smtp_server.received) == 1


def test_no_workbook_is_answered_but_automatic_mail_is_not(home, params, imap_server,
                                                           imap_account, passwords, smtp_server):
    imap_server.append(imap_account, message("m002@example.cn", [], subject="忘了附件"))
    imap_server.append(imap_account, message("MAILER-DAEMON@example.cn", [], subject="退信",
                                             Auto_Submitted="auto-replied"))
    imap_server.append(imap_account, message("m003@example.cn", [], subject="外出",
                                             Auto_Submitted="auto-replied"))
    config = settings(imap_server, imap_account, smtp_server.port, imap_rejected_folder="未受理")
    report = fetch_mail(home, config, params)

    assert [(r.reason, r.replied) for r in report.refused] == [
        ("no_workbook", True), ("unknown_sender", False), ("no_workbook", False)]
    assert [m["To"] for m in smtp_server.messages] == ["m002@example.cn"]
    assert "没有找到业务报送表附件" in smtp_server.messages[0].get_content()
    assert imap_server.flags(imap_account) == []                     # all moved away
    assert len(imap_server.flags(imap_account, imapbox.utf7_mailbox("未受理"))) == 3


def test_oversized_attachment_is_refused(home, params, imap_server, imap_account, passwords,
                                         smtp_server):
    imap_server.append(imap_account, message("m001@example.cn",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    config = settings(imap_server, imap_account, smtp_server.port, max_attachment_bytes=10_000)
    report = fetch_mail(home, config, params)

    assert [(r.reason, r.detail) for r in report.refused] == [("oversized", "M001_2026-03.xlsx")]
    assert not inbox_files(home)
    assert "超过了 10 KB 的大小上限" in smtp_server.messages[0].get_content()


def test_crash_between_saving_and_marking_seen_leaves_one_copy(home, params, imap_server,
                                                               imap_account, passwords,
                                                               monkeypatch):
    imap_server.append(imap_account, message("m001@example.cn",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    config = settings(imap_server, imap_account)

    def die(self, uid):
        raise RuntimeError("killed after the save")
    with monkeypatch.context() as patch:
        patch.setattr(imapbox.Mailbox, "handled", die)
        with pytest.raises(RuntimeError):
            fetch_mail(home, config, params)
    assert len(inbox_files(home)) == 1 and imap_server.flags(imap_account) == [set()]

    again = fetch_mail(home, config, params)
    assert [s.already_there for s in again.saved] == [True]
    assert len(inbox_files(home)) == 1
    assert imap_server.flags(imap_account) == [{"\\Seen"}]
    assert [f.status for f in run(home).filings] == ["partial"]


def test_crash_after_the_run_took_the_file_gives_a_duplicate_and_one_receipt(
        home, params, imap_server, imap_account, passwords, monkeypatch, smtp_server):
    imap_server.append(imap_account, message("m001@example.cn",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    config = settings(imap_server, imap_account, smtp_server.port)
    with monkeypatch.context() as patch:
        patch.setattr(imapbox.Mailbox, "handled", lambda self, uid: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            fetch_mail(home, config, params)
    first = run(home)
    deliver_receipts(home, config, first)

    fetch_mail(home, config, params)                     # the same message, taken again
    second = pipeline.run_once(home, date(2026, 4, 1), options=pipeline.Options(settle_seconds=0))
    assert [f.status for f in second.filings] == ["duplicate"]
    report = deliver_receipts(home, config, second)
    assert report.not_by_mail == (second.filings[0].path,)
    assert len(smtp_server.received) == 1                # the member hears about it once


def test_chinese_file_names_in_every_encoding(home, params, imap_server, imap_account, passwords):
    name = "三月报送表.xlsx"
    utf8 = base64.b64encode(name.encode()).decode()
    gbk = base64.b64encode(name.encode("gb18030")).decode()
    cut = name.encode()
    dispositions = [
        f'attachment; filename="=?UTF-8?B?{utf8}?="'.encode(),                    # RFC 2047
        f'attachment; filename="=?GB18030?B?{gbk}?="'.encode(),
        f"attachment; filename==?GBK?B?{gbk}?=".encode(),                          # unquoted
        ('attachment; filename="=?UTF-8?B?' + base64.b64encode(cut[:4]).decode() + "?= =?UTF-8?B?"
         + base64.b64encode(cut[4:]).decode() + '?="').encode(),                  # split char
        ("attachment; filename*=UTF-8''" + urllib.parse.quote(name)).encode(),    # RFC 2231
        ("attachment;\r\n filename*0*=gbk''" + urllib.parse.quote(name[:2].encode("gbk"))
         + ";\r\n filename*1*=" + urllib.parse.quote(name[2:].encode("gbk"))).encode(),
        b'attachment; filename="' + name.encode("gbk") + b'"',                   # raw 8-bit GBK
        b'attachment; filename="../../../etc/evil.xlsx"',                        # traversal
        b'attachment; filename="/abs/\x1b[31mred\x07.xlsx"',
    ]
    imap_server.append(imap_account, raw_message("m001@example.cn", dispositions,
                                                 FILING.read_bytes()))
    report = fetch_mail(home, settings(imap_server, imap_account), params)

    stems = [s.name.split("/", 1)[1].rsplit("_", 1)[0] for s in report.saved]
    assert stems == ["三月报送表"] * 7 + ["evil", "[31mred"]
    assert [s.original for s in report.saved][:7] == [name] * 7
    files = inbox_files(home)
    assert len(files) == 9 and all(f.parent == home.inbox / "M001" for f in files)
    assert len({f.name for f in files}) == 9                        # one name per part


def test_names_are_made_safe():
    assert safe_name("../../etc/passwd.xlsx") == "passwd.xlsx"
    assert safe_name("C:\\Users\\a\\报送.XLSX") == "报送.xlsx"
    assert safe_name("a\x00b\u202ec.xlsx") == "abc.xlsx"
    assert safe_name("~$锁.xlsx") == "锁.xlsx" and safe_name("...xlsx") == "附件.xlsx"
    assert safe_name("con.xls") == "_con.xls"
    assert len(safe_name("报" * 300 + ".xlsx").encode()) <= 160


def test_read_message_decodes_a_gb2312_label_on_gbk_text():
    raw = raw_message("m001@example.cn", [
        b'attachment; filename="=?GB2312?B?' + base64.b64encode("報送表.xlsx".encode("gbk"))
        + b'?="'], b"x")
    assert [a.name for a in read_message(raw).workbooks] == ["報送表.xlsx"]


def test_an_encoded_display_name_cannot_pose_as_a_member():
    disguise = base64.b64encode("m001@example.cn".encode()).decode()
    raw = f"From: =?UTF-8?B?{disguise}?= <intruder@evil.test>\r\nSubject: x\r\n\r\nhi\r\n"
    mail = read_message(raw.encode())
    assert mail.sender == "intruder@evil.test" and not mail.automatic


def test_processed_folder_with_move_and_with_copy_expunge(home, params, imap_server,
                                                          imap_account, passwords, monkeypatch):
    config = settings(imap_server, imap_account, imap_processed_folder="已处理")
    imap_server.append(imap_account, message("m001@example.cn", [("a.xlsx", b"one")]))
    assert len(fetch_mail(home, config, params).saved) == 1                   # UID MOVE

    imap_server.append(imap_account, message("m002@example.cn", [("b.xlsx", b"two")]))
    monkeypatch.setattr(imapbox.Mailbox, "supports", lambda self, cap: cap != "MOVE")
    assert len(fetch_mail(home, config, params).saved) == 1                   # COPY + EXPUNGE

    assert imap_server.flags(imap_account) == []
    assert imap_server.flags(imap_account, imapbox.utf7_mailbox("已处理")) == [{"\\Seen"}] * 2


def test_unreachable_mail_server_is_reported_not_raised(home, params, imap_account, passwords):
    config = Config(mail=Mail(imap_host="127.0.0.1", imap_port=free_port(), imap_security="none",
                              imap_user=imap_account.user))
    report = fetch_mail(home, config, params)
    assert report.exit_code == 2 and "无法连接收件服务器" in report.errors[0]
    unset = fetch_mail(home, config, params, environ={})
    assert "未设置环境变量 REGUARANTEE_IMAP_PASSWORD" in unset.errors[0]


def test_fetch_mail_command(home, imap_server, imap_account, passwords):
    (home.root / "reguarantee.toml").write_text(
        f'[mail]\nimap_host = "127.0.0.1"\nimap_port = {imap_server.port}\n'
        f'imap_security = "none"\nimap_user = "{imap_account.user}"\n', "utf-8")
    imap_server.append(imap_account, message("m003@example.cn", [("报送.xlsx", b"bytes")]))
    result = CliRunner().invoke(fetch_mail_command, [], obj=home)
    assert result.exit_code == 0, result.output
    assert "已存入 inbox/M003/报送_" in result.output


# ---- receipts going back ------------------------------------------------------------------

def fetched_and_run(home, params, imap_server, imap_account, config):
    """M001 files by mail; M002 and M003 files arrive the old way (folder, staff drop)."""
    imap_server.append(imap_account, message("m001@example.cn",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    fetch_mail(home, config, params)
    shutil.copytree(LO_HOME / "inbox", home.inbox, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if n.startswith("M001")])
    return run(home)


def test_receipt_goes_back_to_the_sender_over_starttls(home, params, imap_server, imap_account,
                                                       passwords, smtp_tls_server, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.cert))     # trust the test certificate
    config = settings(imap_server, imap_account, smtp_tls_server.port, imap_security="starttls",
                      smtp_security="starttls", smtp_user=SMTP_USER)
    outcome = fetched_and_run(home, params, imap_server, imap_account, config)

    report = deliver_receipts(home, config, outcome)
    assert len(report.sent) == 1 and not report.waiting and len(report.not_by_mail) == 2
    [(_from, to, _raw)] = smtp_tls_server.received
    assert to == ["m001@example.cn"]
    [mail] = smtp_tls_server.messages
    assert mail["Subject"] == "业务报送回执：M001 2026-03 部分退回"
    assert mail["In-Reply-To"] == message_id("m001@example.cn", "3月业务报送")
    body = mail.get_body(("plain",)).get_content()
    assert "「M001_2026-03.xlsx」" in body and "新增业务：通过" in body and "退回" in body
    [attachment] = mail.iter_attachments()
    mine = next(f for f in outcome.filings if f.path.startswith("M001/"))
    assert attachment.get_filename() == "M001_2026-03_1.xlsx"
    assert attachment.get_content() == (home.outbox / outcome.run_id / mine.receipt).read_bytes()

    assert deliver_receipts(home, config, outcome).queued == ()     # once per receipt
    assert len(smtp_tls_server.received) == 1


def test_smtp_failure_is_queued_and_retried_next_time(home, params, imap_server, imap_account,
                                                      passwords):
    port = free_port()                                               # nobody listens yet
    config = settings(imap_server, imap_account, port)
    outcome = fetched_and_run(home, params, imap_server, imap_account, config)

    down = deliver_receipts(home, config, outcome)
    assert len(down.queued) == 1 and len(down.waiting) == 1 and not down.sent
    assert "无法连接发件服务器" in down.summary()

    sink = SmtpSink(port).start()
    try:
        sink.refuse = "451 4.3.0 Try again later"
        later = deliver_receipts(home, config, outcome)
        assert not later.queued and len(later.waiting) == 1 and not sink.received
        sink.refuse = ""
        up = deliver_receipts(home, config, outcome)
        assert len(up.sent) == 1 and not up.waiting
        assert [to for _f, to, _r in sink.received] == [["m001@example.cn"]]
    finally:
        sink.stop()
    assert Journal(home.root).queued() == []
    assert message_from_bytes(sink.received[0][2], policy=policy.default)["Subject"].startswith(
        "业务报送回执：M001")


def test_the_nightly_run_fetches_first_and_sends_receipts_after(home, imap_server, imap_account,
                                                                passwords, smtp_server):
    """`reguarantee run` with [mail] configured: mail in, the batch, receipts out."""
    home.root.joinpath("reguarantee.toml").write_text(
        "[mail]\n"
        f'imap_host = "127.0.0.1"\nimap_port = {imap_server.port}\nimap_security = "none"\n'
        f'imap_user = "{imap_account.user}"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_server.port}\nsmtp_security = "none"\n'
        f'sender = "{OUR_ADDRESS}"\n', "utf-8")
    imap_server.append(imap_account, message("m001@example.cn",
                                             [("M001_2026-03.xlsx", FILING.read_bytes())]))
    from batch.cli import cli
    result = CliRunner().invoke(cli, ["--home", str(home.root), "run", "--date", "2026-03-31",
                                      "--settle", "0"])
    assert result.exit_code == 1, result.output                  # the filing has a bad row
    assert not inbox_files(home)
    assert [to for _f, to, _r in smtp_server.received] == [["m001@example.cn"]]
    assert smtp_server.messages[0]["Subject"] == "业务报送回执：M001 2026-03 部分退回"
