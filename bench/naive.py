"""The pipeline a finance analyst would write: pandas reads each filing (openpyxl), four shares
per new loan, pandas writes a workbook back. No checks, no ledger: the floor to compare with."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SHARES = {"BL": (0.20, 0.40, 0.25, 0.15), "ZY": (0.20, 0.40, 0.30, 0.0),
          "LD": (0.0, 0.5, 0.5, 0.0), "YB": (0.0, 0.6, 0.4, 0.0),
          "LH": (0.0, 0.5, 0.5, 0.0), "FD": (0.0, 1.0, 0.0, 0.0)}
PARTIES = ("银行分担", "担保机构分担", "再担保分担", "补偿基金分担")


def one(path: Path, out: Path) -> int:
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype={"证件号码": str})
    new = sheets.get("新增业务")
    if new is not None and len(new):
        table = new["再担保产品"].map(SHARES)
        for i, party in enumerate(PARTIES):
            new[party] = (new["贷款金额"] * table.map(lambda s: s[i])).round(2)
    with pd.ExcelWriter(out) as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return sum(len(f) for name, f in sheets.items() if name != "封面")


def main(inbox: str, outdir: str) -> None:
    rows = 0
    Path(outdir).mkdir(parents=True, exist_ok=True)
    for n, path in enumerate(sorted(Path(inbox).rglob("*.xlsx"))):
        rows += one(path, Path(outdir) / f"{n:05d}.xlsx")
    print(rows)


if __name__ == "__main__":
    main(*sys.argv[1:3])
