"""The working home: one folder holding the reference workbook, the inbox, outputs and the ledger."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REFERENCE_NAME = "基础数据.xlsx"
FILING_TEMPLATE_NAME = "业务报送表.xlsx"


@dataclass(frozen=True, slots=True)
class Home:
    root: Path
    ledger_url: str = ""

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def reference(self) -> Path:
        return self.root / "reference" / REFERENCE_NAME

    @property
    def ledger(self) -> str:
        """SQLAlchemy URL of the ledger: the home's SQLite file unless another was given."""
        return self.ledger_url or f"sqlite:///{(self.root / 'ledger.db').resolve()}"

    def make_folders(self) -> None:
        for folder in (self.inbox, self.outbox, self.archive, self.quarantine, self.templates,
                       self.reference.parent):
            folder.mkdir(parents=True, exist_ok=True)
