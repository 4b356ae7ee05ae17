"""The README documents every issue code the code can emit (every code is registered), the
quickstart CI runs, every command, and the layout of what the ledger stores as JSON."""
from __future__ import annotations

import re
from pathlib import Path

from batch.codes import all_codes

ROOT = Path(__file__).resolve().parents[1]
EMITTED = re.compile(r'(?:Issue|Bad|_issue|Refusal)\(\s*"([a-z_]+\.[a-z_.]+|[a-z_]+)"')


def test_every_registered_code_is_in_the_readme():
    readme = ROOT.joinpath("README.md").read_text("utf-8")
    missing = [code for code in all_codes() if f"`{code}`" not in readme]
    assert not missing, f"document these codes in README.md: {missing}"


def test_every_code_in_the_source_is_registered():
    emitted = set()
    for path in (ROOT / "batch").rglob("*.py"):
        emitted |= set(EMITTED.findall(path.read_text("utf-8")))
    assert emitted, "the scan found no codes at all"
    assert not emitted - set(all_codes()), sorted(emitted - set(all_codes()))


def test_the_quickstart_is_two_commands_and_ci_runs_pytest():
    readme = ROOT.joinpath("README.md").read_text("utf-8")
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2 and "demo" in commands[0] and commands[1] == "bash .ci/run"
    assert "pytest" in ROOT.joinpath(".ci", "run").read_text()


def test_the_readme_lists_a_stored_registrations_fields_in_their_order():
    """IT reads the ledger with json_extract(detail, '$[n]'): the README's list is the order."""
    from batch.codec import DETAIL_FIELDS
    readme = " ".join(ROOT.joinpath("README.md").read_text("utf-8").split())
    assert ", ".join(DETAIL_FIELDS) + " (amounts and dates as text)" in readme
    assert f"json_extract(detail, '$[{DETAIL_FIELDS.index('borrower_id')}]')` is the borrower's ID" in readme


def test_every_command_is_in_the_readmes_table():
    from batch.cli import cli
    table = ROOT.joinpath("README.md").read_text("utf-8").split("## Commands", 1)[1].split("##", 1)[0]
    missing = [name for name in cli.commands if f"| `reguarantee {name}" not in table]
    assert not missing, f"document these commands in README.md: {missing}"
