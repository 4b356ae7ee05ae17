"""The package type-checks: mypy, configured in pyproject.toml, finds nothing in batch/.

The checks' read-only views, the records built by ``model.record`` and the invariants the posters
rely on (an accepted row's guarantee is held, its product has a rule) are stated in types and
asserts; this keeps them stated as the code changes."""
from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_type_checks(tmp_path):
    report, errors, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      "--cache-dir", str(tmp_path / "mypy"), str(ROOT / "batch")])
    assert status == 0, report + errors
    assert "Success" in report
