"""One log per run, beside its outputs: outbox/<run id>/run.log (written while the folder is
still aside, so it moves into place with the rest)."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOGGER = "reguarantee"
FORMAT = "%(asctime)s %(levelname)s %(message)s"


@contextmanager
def run_log(folder: Path) -> Iterator[logging.Logger]:
    folder.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(folder / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    try:
        yield logger
    except Exception:  # logged to the run's log, then re-raised
        logger.exception("运行失败")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
