"""The home's settings file, `reguarantee.toml`: limits, intake and mail, all with safe defaults.

Only operational settings live here; business numbers (shares, caps, rates) belong to finance and
live in the reference workbook.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

CONFIG_NAME = "reguarantee.toml"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one hostile or broken file from exhausting the night."""
    max_file_bytes: int = 50 * 1024 * 1024          # a filing larger than this is not opened
    max_unzipped_bytes: int = 500 * 1024 * 1024     # sum of a workbook's uncompressed parts
    max_compression_ratio: int = 200               # uncompressed ÷ compressed, per part
    max_rows: int = 300_000                         # data rows per sheet
    max_cell_chars: int = 2_000                     # longer text is an error for that cell


@dataclass(frozen=True, slots=True)
class Intake:
    settle_seconds: float = 5.0                     # unchanged this long before a file is taken


@dataclass(frozen=True, slots=True)
class Mail:
    """IMAP in, SMTP out. The passwords never sit in the file: they come from the environment."""
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "tls"                      # tls | starttls | none (tests only)
    imap_user: str = ""
    imap_password_env: str = "REGUARANTEE_IMAP_PASSWORD"
    imap_folder: str = "INBOX"
    imap_processed_folder: str = ""                 # move handled messages here; "" = mark seen
    imap_rejected_folder: str = ""                  # move refused messages here; "" = mark seen
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"                 # starttls | tls | none (tests only)
    smtp_user: str = ""
    smtp_password_env: str = "REGUARANTEE_SMTP_PASSWORD"
    sender: str = ""                                # From: of receipts and replies
    max_attachment_bytes: int = 20 * 1024 * 1024

    @property
    def fetch_enabled(self) -> bool:
        return bool(self.imap_host)

    @property
    def send_enabled(self) -> bool:
        return bool(self.smtp_host)


@dataclass(frozen=True, slots=True)
class Config:
    limits: Limits = field(default_factory=Limits)
    intake: Intake = field(default_factory=Intake)
    mail: Mail = field(default_factory=Mail)


def _section(cls, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{CONFIG_NAME}: unknown setting(s) {', '.join(sorted(unknown))} "
                         f"in [{cls.__name__.lower()}]")
    return replace(cls(), **values)


def load_config(home_root: Path) -> Config:
    """Settings from <home>/reguarantee.toml; a missing file means every default."""
    path = home_root / CONFIG_NAME
    if not path.exists():
        return Config()
    data = tomllib.loads(path.read_text("utf-8"))
    return Config(limits=_section(Limits, data.get("limits", {})),
                  intake=_section(Intake, data.get("intake", {})),
                  mail=_section(Mail, data.get("mail", {})))
