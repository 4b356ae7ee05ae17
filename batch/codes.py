"""Every issue code the product can emit, gathered from the modules that emit them.

The README documents each one; a test holds the two together (and scans the source so a code
cannot be emitted without being registered here).
"""
from __future__ import annotations


def all_codes() -> dict[str, str]:
    from . import params, pipeline, process, read, validate
    registry: dict[str, str] = {}
    for module in (read, params, pipeline, process, validate):
        registry.update(module.ISSUE_CODES)
    return registry


def markdown_table() -> str:
    rows = "\n".join(f"| `{code}` | {meaning} |" for code, meaning in sorted(all_codes().items()))
    return f"| code | meaning |\n|---|---|\n{rows}"


def update_readme(path: str = "README.md") -> None:
    """Rewrite the README's issue-code table between its markers: `python -m batch.codes`."""
    import re
    from pathlib import Path
    readme = Path(path)
    text = re.sub(r"<!-- codes:start -->.*<!-- codes:end -->",
                  lambda _m: f"<!-- codes:start -->\n{markdown_table()}\n<!-- codes:end -->",
                  readme.read_text("utf-8"), flags=re.S)
    readme.write_text(text, "utf-8")


if __name__ == "__main__":
    update_readme()
