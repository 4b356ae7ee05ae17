"""Making a home and its templates: what `init` and `templates` do."""
from __future__ import annotations

from pathlib import Path

from .home import FILING_TEMPLATE_NAME, REFERENCE_NAME, Home
from .reports.templates import DEFAULT_PRODUCT_RULES, write_filing_template, write_reference_template


def write_templates(home: Home, banks: tuple[tuple[str, str], ...] = ()) -> list[Path]:
    """Blank 业务报送表 and 基础数据 in templates/, with the home's banks in the dropdown if known."""
    home.templates.mkdir(parents=True, exist_ok=True)
    banks = banks or _known_banks(home)
    filing = home.templates / FILING_TEMPLATE_NAME
    reference = home.templates / REFERENCE_NAME
    write_filing_template(filing, banks=banks)
    write_reference_template(reference, data={"products": DEFAULT_PRODUCT_RULES})
    return [filing, reference]


def _known_banks(home: Home) -> tuple[tuple[str, str], ...]:
    if not home.reference.exists():
        return ()
    from .pipeline import RunAborted, load_params
    try:
        params = load_params(home)
    except RunAborted:
        return ()
    return tuple(sorted(params.banks.items()))


def init_home(home: Home) -> list[str]:
    home.make_folders()
    lines = [f"工作目录：{home.root.resolve()}"]
    if home.reference.exists():
        lines.append(f"保留已有基础数据：{home.reference}")
    else:
        write_reference_template(home.reference, data={"products": DEFAULT_PRODUCT_RULES})
        lines.append(f"已生成基础数据（含默认产品规则，请补充体系成员、合作银行、授信和资金账户）：{home.reference}")
    lines += [f"已生成模板：{p}" for p in write_templates(home)]
    return lines
