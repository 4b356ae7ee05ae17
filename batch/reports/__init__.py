"""Every workbook the product writes (xlsxwriter) and run.json: pure functions of the outcome."""
from .fund_statement import write_fund_statement
from .receipt import write_receipt
from .reconciliation import write_reconciliation
from .runjson import write_run_json
from .templates import DEFAULT_PRODUCT_RULES, write_filing_template, write_reference_template

__all__ = ["DEFAULT_PRODUCT_RULES", "write_filing_template", "write_fund_statement",
           "write_receipt", "write_reconciliation", "write_reference_template", "write_run_json"]
