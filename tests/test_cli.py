"""The thin commands: init, templates, check, demo."""
from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from batch.cli import cli

LO_HOME = Path(__file__).parent / "fixtures" / "lo_home"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_makes_a_home_with_rules_and_templates(tmp_path):
    result = invoke("init", str(tmp_path / "h"))
    assert result.exit_code == 0
    home = tmp_path / "h"
    for folder in ("inbox", "outbox", "archive", "quarantine", "templates", "reference"):
        assert (home / folder).is_dir()
    rules = openpyxl.load_workbook(home / "reference" / "基础数据.xlsx")["产品规则"]
    codes = [r[0] for r in rules.iter_rows(min_row=2, values_only=True) if r[0]]
    assert codes == ["BL", "ZY", "LD", "YB", "LH", "FD"]
    filing = openpyxl.load_workbook(home / "templates" / "业务报送表.xlsx")
    assert {"填报说明", "封面", "新增业务", "还款解保", "代偿", "追偿", "在保余额"} <= set(filing.sheetnames)
    new = filing["新增业务"]
    assert new.freeze_panes == "A2"
    assert any("小型企业" in (dv.formula1 or "") or "下拉选项" in (dv.formula1 or "")
               for dv in new.data_validations.dataValidation)
    # a run on the fresh home has nothing to do and says so
    result = invoke("--home", str(home), "run", "--date", "2026-03-31", "--settle", "0")
    assert result.exit_code == 0 and "未生成运行" in result.output


def test_templates_take_the_banks_of_the_reference_workbook(tmp_path):
    shutil.copytree(LO_HOME, tmp_path / "h")
    assert invoke("--home", str(tmp_path / "h"), "templates").exit_code == 0
    wb = openpyxl.load_workbook(tmp_path / "h" / "templates" / "业务报送表.xlsx")
    lists = [dv.formula1 or "" for dv in wb["新增业务"].data_validations.dataValidation]
    assert '"B01,B02"' in lists


def test_check_writes_a_receipt_and_posts_nothing(tmp_path):
    shutil.copytree(LO_HOME, tmp_path / "h")
    home = tmp_path / "h"
    filing = home / "inbox" / "M002" / "M002_2026-03.xls"
    result = invoke("--home", str(home), "check", str(filing), "--member", "M002",
                    "--date", "2026-03-31", "--out", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 1 and "1/2 行通过" in result.output
    rows = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["新增业务"].iter_rows(values_only=True))
    assert [r[rows[0].index("状态")] for r in rows[1:]] == ["通过", "退回"]
    assert filing.exists() and not (home / "archive").exists()
    from batch import store
    from batch.home import Home
    assert store.load(store.open_engine(Home(home).ledger)).posted == {}


def test_check_refuses_a_cover_for_another_member(tmp_path):
    shutil.copytree(LO_HOME, tmp_path / "h")
    home = tmp_path / "h"
    result = invoke("--home", str(home), "check", str(home / "inbox" / "M002" / "M002_2026-03.xls"),
                    "--member", "M001", "--date", "2026-03-31", "--out", str(tmp_path / "r.xlsx"))
    assert result.exit_code == 1 and "rejected，0/2 行通过" in result.output
    assert "与报送来源「M001」不一致" in result.output
    rows = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["新增业务"].iter_rows(values_only=True))
    assert all(r[rows[0].index("状态")] == "退回" for r in rows[1:])
    assert "整个文件被退回" in rows[1][rows[0].index("说明")]


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d")])
    assert result.exit_code != 0 and "不为空" in result.output
