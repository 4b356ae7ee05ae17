"""Mail in and out: members e-mail their filings, receipts go back by e-mail.

- ``fetch_mail`` (first step of a night when [mail] imap_host is set): unread messages from
  registered 报送邮箱 addresses → workbooks in inbox/<member id>/; anything else refused with a
  polite reply and set aside.
- ``deliver_receipts`` (after a run): each receipt to the address its filing came from.

State (who sent which file, what waits to be sent) lives in <home>/mail/mail.db, see journal.py.
"""
from .deliver import DeliveryReport, deliver_receipts
from .fetch import FetchReport, RefusedMail, fetch_mail
from .imapbox import MailError
from .save import SavedFile

__all__ = ["DeliveryReport", "FetchReport", "MailError", "RefusedMail", "SavedFile",
           "deliver_receipts", "fetch_mail"]
