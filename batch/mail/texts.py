"""What we write to members, in Chinese: the polite refusal and the receipt e-mail.

Every message we send says it was sent automatically (Auto-Submitted, RFC 3834), so a member's
out-of-office reply does not answer it and start a loop, and it threads under the member's own
message (In-Reply-To) so they see which mail it answers.
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .. import schema
from ..outcome import ACCEPTED, DUPLICATE, FilingOutcome, RunOutcome
from ..reports.figures import STATUS_LABELS, file_issues, status_text
from .journal import Saved
from .message import NO_WORKBOOK, OVERSIZED, UNKNOWN_SENDER, MailIn, Refusal

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
SIGNATURE = "此邮件由再担保业务报送系统自动发送。如有疑问，请与我公司业务部门联系。"
MAX_ISSUES_LISTED = 10


def envelope(sender: str, recipient: str, subject: str, in_reply_to: str = "",
             kind: str = "auto-replied") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = kind
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    return msg


def size_text(size: int) -> str:
    """20971520 → "20 MB", 10000 → "10 KB": how a person would say it."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.3g} MB"
    return f"{max(size / 1024, 1):.0f} KB"


def _why(mail: MailIn, refusal: Refusal, max_bytes: int) -> str:
    if refusal.reason == UNKNOWN_SENDER:
        return (f"发件地址 {mail.sender or '（无法识别）'} 未登记为任何再担保体系成员的报送邮箱，"
                "邮件中的附件没有被受理。\n\n如您是体系成员，请使用已登记的报送邮箱重新发送；"
                "如需新增或变更报送邮箱，请与我公司业务部门联系，由我公司在基础数据中登记。")
    if refusal.reason == NO_WORKBOOK:
        return ("邮件中没有找到业务报送表附件，因此未能受理。\n\n系统受理的工作簿格式为 .xlsx、.xlsm、"
                ".xls 和 .ods。请将填好的业务报送表直接作为附件（不要压缩、不要粘贴在正文中）重新发送到本邮箱。")
    if refusal.reason == OVERSIZED:
        what = f"附件「{refusal.detail}」" if refusal.detail else "邮件中的附件"
        return (f"{what}超过了 {size_text(max_bytes)} 的大小上限，未能受理；为避免只受理一部分，"
                "同一封邮件中的其他附件也一并未受理。\n\n请删除工作簿中不需要的图片、多余的工作表后重新发送。")
    return "邮件未能受理。"


def refusal_reply(mail: MailIn, refusal: Refusal, sender: str, max_bytes: int) -> EmailMessage:
    """The polite answer to a message we did not take: what we received, why, what to do."""
    title = f"《{mail.subject}》" if mail.subject else "（无主题）"
    msg = envelope(sender, mail.sender, f"报送未受理：{mail.subject or '您发送的邮件'}",
                   mail.message_id)
    msg.set_content(f"您好！\n\n我们收到了您发送的邮件{title}，但未能受理：\n\n"
                    f"{_why(mail, refusal, max_bytes)}\n\n{SIGNATURE}\n")
    return msg


def _sheet_lines(filing: FilingOutcome) -> list[str]:
    lines = []
    for sheet in schema.DATA_SHEETS:
        if filing.rows.get(sheet.key):
            accepted, rejected = filing.counts(sheet.key)
            lines.append(f"  {sheet.name}：通过 {accepted} 行，退回 {rejected} 行")
    return lines or ["  （文件中没有数据行）"]


def _issue_lines(filing: FilingOutcome) -> list[str]:
    issues = [i for i in file_issues(filing) if i.is_error]
    lines = [f"  - {i.message}" for i in issues[:MAX_ISSUES_LISTED]]
    if len(issues) > MAX_ISSUES_LISTED:
        lines.append(f"  - ……另有 {len(issues) - MAX_ISSUES_LISTED} 项，详见回执")
    return ["", "文件整体问题："] + lines if lines else []


def _advice(filing: FilingOutcome) -> str:
    if filing.status == ACCEPTED:
        return "全部数据已入账，无需其他操作。"
    if filing.status == DUPLICATE:
        return "该文件与此前报送的文件内容完全相同，本次未重复入账，无需其他操作。"
    return ("请按回执修改被退回的行后重新报送：可只报送这些行（报送类型填“正常”），"
            "也可报送整期数据（报送类型填“更正”）。修改后的报送表照常作为邮件附件发送即可。")


def receipt_body(filing: FilingOutcome, saved: Saved, run: RunOutcome, receipt_name: str) -> str:
    who = f"{filing.member_name}（{filing.member_id}）" if filing.member_name else filing.member_id
    lines = [f"{who or '您好'}：", "",
             f"您通过邮件报送的文件「{saved.original}」已于 {run.run_date.isoformat()} 处理完毕"
             f"（处理批次 {run.run_id}）。", "",
             f"处理结果：{status_text(filing)}", "各工作表情况：", *_sheet_lines(filing),
             *_issue_lines(filing), "",
             f"回执见附件「{receipt_name}」：每一行标有“通过”或“退回”及原因，出错的单元格标红并附批注。",
             _advice(filing), "", SIGNATURE]
    return "\n".join(lines) + "\n"


def receipt_message(filing: FilingOutcome, saved: Saved, run: RunOutcome, receipt: bytes,
                    receipt_name: str, sender: str) -> EmailMessage:
    """The receipt going back to the address the filing came from, the workbook attached."""
    period = f" {filing.period}" if filing.period else ""
    label = STATUS_LABELS.get(filing.status, filing.status)
    subject = f"业务报送回执：{filing.member_id or '未知机构'}{period} {label}"
    msg = envelope(sender, saved.sender, subject, saved.message_id, kind="auto-generated")
    msg.set_content(receipt_body(filing, saved, run, receipt_name))
    msg.add_attachment(receipt, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=receipt_name)
    return msg
