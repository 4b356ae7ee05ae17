"""Every workbook's sheets and columns, in one place.

Templates, readers and receipts are all generated from these tuples, so a header renamed here is
renamed everywhere. Headers are matched after NFKC normalisation and trimming; the English key is
accepted as an alias.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import model
from .model import (BORROWER_TYPES, CITIES, FILING_KINDS, FUND_INPUT_KINDS, INDUSTRIES,
                    MEMBER_STATES, Product)

TEMPLATE_VERSION = "1.0"
SUPPORTED_TEMPLATE_VERSIONS = frozenset({"1.0"})

YES, NO = "是", "否"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    kind: str                  # text, code, money, ratio, date, choice, yesno, int, number, period, list
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Any = None
    width: int = 14
    note: str = ""


@dataclass(frozen=True, slots=True)
class Sheet:
    key: str
    name: str
    columns: tuple[Column, ...]
    labels: bool = False       # label in column A, value in column B (cover, settings)
    record: type | None = None   # a row's typed values become record(where=..., **values);
                                 # reference sheets use dict
    note: str = ""
    aliases: tuple[str, ...] = field(default=())

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def _yesno(key: str, header: str, *, required: bool = True, default: Any = None,
           note: str = "") -> Column:
    return Column(key, header, "yesno", required, (YES, NO), default, 12, note)


PRODUCT_CODES = tuple(p.value for p in Product)

COVER = Sheet("cover", "封面", (
    Column("member_id", "机构编号", "text", width=20, note="本机构在再担保体系内的编号，如 M001"),
    Column("member_name", "机构名称", "text", width=30),
    Column("period", "报送期间", "period", width=20, note="YYYY-MM，如 2026-03"),
    Column("kind", "报送类型", "choice", choices=FILING_KINDS, width=20,
           note="正常：本期新增报送（可多次，累加）；更正：整体替换本机构本期此前全部报送"),
    Column("contact", "填报人", "text", required=False, width=20),
    Column("phone", "联系电话", "text", required=False, width=20),
    Column("template_version", "模板版本", "text", required=False, width=20,
           default=TEMPLATE_VERSION, note="请勿修改"),
), labels=True)

NEW = Sheet("new", "新增业务", (
    Column("guarantee_id", "业务编号", "code", width=16, note="本机构内唯一"),
    Column("borrower_name", "借款人名称", "text", width=26),
    Column("borrower_id", "证件号码", "code", width=22,
           note="统一社会信用代码（18位）；个体工商户、农户可填居民身份证号码。请设为文本格式"),
    Column("borrower_type", "借款人类型", "choice", choices=BORROWER_TYPES, width=16),
    Column("industry", "所属行业", "choice", required=False, choices=INDUSTRIES, width=10,
           note="国民经济行业分类门类字母 A–T"),
    Column("city", "所在市", "choice", choices=CITIES, width=10),
    Column("county", "区县", "text", required=False, width=12),
    Column("bank_id", "合作银行", "code", width=12, note="合作银行编号，见基础数据"),
    Column("loan_contract_no", "借款合同编号", "code", width=20),
    Column("loan_amount", "贷款金额", "money", width=16, note="元，两位小数"),
    Column("guaranteed_amount", "担保金额", "money", width=16,
           note="比例分险、政银担：贷款金额×(1－银行比例)"),
    Column("fee_rate", "担保费率", "ratio", width=10, note="如 0.017 或 1.7%"),
    Column("start_date", "放款日期", "date", width=12),
    Column("maturity_date", "到期日期", "date", width=12),
    Column("product", "再担保产品", "choice", choices=PRODUCT_CODES, width=10),
    _yesno("fund_cover", "申请代偿补偿", required=False, default=False,
           note="仅比例分险（BL）可申请补偿基金分担"),
    Column("reguarantor_share", "再担保比例", "ratio", required=False, width=10,
           note="仅联合担保（LH），缺省 50%"),
    Column("counter_amount", "反担保金额", "money", required=False, width=14,
           note="仅体系反担保（FD）"),
), record=model.NewGuarantee)

REPAY = Sheet("repay", "还款解保", (
    Column("guarantee_id", "业务编号", "code", width=16),
    Column("date", "还款日期", "date", width=12),
    Column("principal", "还款本金", "money", width=16),
    _yesno("settled", "是否结清", required=False, default=False),
), record=model.Repayment)

DEFAULT = Sheet("default", "代偿", (
    Column("guarantee_id", "业务编号", "code", width=16),
    Column("date", "代偿日期", "date", width=12),
    Column("principal", "代偿本金", "money", width=16),
    Column("interest", "代偿利息", "money", required=False, default=None, width=14),
    _yesno("claim", "是否申请补偿"),
), record=model.Default)

RECOVER = Sheet("recover", "追偿", (
    Column("guarantee_id", "业务编号", "code", width=16),
    Column("date", "回收日期", "date", width=12),
    Column("amount", "回收金额", "money", width=16),
    Column("costs", "追偿费用", "money", required=False, width=14),
), record=model.Recovery)

BALANCE = Sheet("balance", "在保余额", (
    Column("guarantee_id", "业务编号", "code", width=16),
    Column("outstanding", "期末在保余额", "money", width=18),
), record=model.BalanceLine)

FILING_SHEETS: tuple[Sheet, ...] = (COVER, NEW, REPAY, DEFAULT, RECOVER, BALANCE)
DATA_SHEETS: tuple[Sheet, ...] = (NEW, REPAY, DEFAULT, RECOVER, BALANCE)

# ---- reference workbook (基础数据) ---------------------------------------------------------

MEMBERS = Sheet("members", "体系成员", (
    Column("member_id", "机构编号", "text", width=12),
    Column("member_name", "机构名称", "text", width=30),
    Column("city", "所在市", "choice", choices=CITIES, width=10),
    Column("status", "状态", "choice", choices=MEMBER_STATES, width=8),
    Column("admitted", "准入日期", "date", width=12),
    Column("terminated", "终止日期", "date", required=False, width=12),
    Column("net_assets", "净资产", "money", width=18),
    Column("leverage_cap", "放大倍数上限", "number", required=False, width=12,
           note="缺省 10 倍；专注小微、三农的机构可填 15"),
    Column("products", "授权产品", "list", width=16, note="如 BL,ZY,LD"),
    Column("emails", "报送邮箱", "list", required=False, width=30),
    Column("concentration_cap", "单户集中度上限", "ratio", required=False, width=14,
           note="缺省取参数表，通常 10%"),
), record=dict)

BANKS = Sheet("banks", "合作银行", (
    Column("bank_id", "银行编号", "code", width=12),
    Column("bank_name", "银行名称", "text", width=30),
), record=dict)

CREDIT = Sheet("credit", "授信额度", (
    Column("member_id", "机构编号", "text", width=12),
    Column("bank_id", "银行编号", "code", width=12),
    Column("amount", "授信额度", "money", width=18),
    Column("start", "起始日期", "date", width=12),
    Column("end", "到期日期", "date", width=12),
), record=dict)

PRODUCTS = Sheet("products", "产品规则", (
    Column("product", "产品代码", "choice", choices=PRODUCT_CODES, width=10),
    Column("name", "产品名称", "text", width=16),
    Column("effective_from", "生效日期", "date", width=12),
    Column("until", "失效日期", "date", required=False, width=12),
    Column("bank", "银行比例", "ratio", width=10),
    Column("member", "担保机构比例", "ratio", width=12),
    Column("reguarantor", "再担保比例", "ratio", width=10),
    Column("fund", "补偿基金比例", "ratio", width=12),
    Column("local", "地方财政比例", "ratio", width=12),
    Column("borrower_cap", "单户上限", "money", required=False, width=16),
    Column("fee_rate_cap", "担保费率上限", "ratio", required=False, width=12),
    Column("reguarantee_fee_rate", "再担保费率", "ratio", width=10),
    Column("compensation_ceiling", "代偿率上限", "ratio", required=False, width=10),
    Column("max_term_months", "最长期限(月)", "int", required=False, width=12),
    Column("borrower_types", "适用借款人类型", "list", required=False, width=40,
           note="用逗号分隔；空白表示不限"),
), record=dict)

FUND = Sheet("fund", "资金账户", (
    Column("date", "日期", "date", width=12),
    Column("kind", "类型", "choice", choices=FUND_INPUT_KINDS, width=12),
    Column("amount", "金额", "money", width=18),
    Column("note", "说明", "text", required=False, width=40),
), record=dict)

SETTINGS = Sheet("settings", "参数", (
    Column("assumed_default_rate", "测算代偿率", "ratio", required=False, default="0.05"),
    Column("assumed_fund_share", "测算基金比例", "ratio", required=False, default="0.15"),
    Column("leverage_warning", "杠杆预警比例", "ratio", required=False, default="0.9"),
    Column("concentration_cap", "单户集中度上限", "ratio", required=False, default="0.10"),
), labels=True)

REFERENCE_SHEETS: tuple[Sheet, ...] = (MEMBERS, BANKS, CREDIT, PRODUCTS, FUND, SETTINGS)

# ---- receipt columns added after the member's own ------------------------------------------

RECEIPT_STATUS = "状态"
RECEIPT_NOTE = "说明"
RECEIPT_SHARES = ("银行分担", "担保机构分担", "再担保分担", "补偿基金分担", "地方财政分担")
RECEIPT_FEE = "再担保费"
ACCEPTED, REJECTED = "通过", "退回"
