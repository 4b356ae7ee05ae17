"""After a crash: finish what the ledger says was committed, throw away what was not.

The ledger commit is the line: a run that committed had its outputs written aside first, so
finishing it means renaming its folder into place and moving the inputs it recorded to the
folders it recorded. A run that did not commit left the inbox untouched; its half-written
outputs are deleted and its files are simply taken again.
"""
from __future__ import annotations

import json
import logging
import os
import shutil

from . import intake, store
from .home import Home

log = logging.getLogger("reguarantee")
PARTIAL = ".partial"


def finish_committed(home: Home, engine, ready: list[intake.Incoming]
                     ) -> tuple[list[str], list[intake.Incoming]]:
    """Complete crashed runs; returns their ids and the inbox files still to be taken."""
    partials = {folder: folder.name[1:-len(PARTIAL)]
                for folder in sorted(home.outbox.glob(f".*{PARTIAL}"))}
    committed = store.committed(engine, list(partials.values()))
    finished = []
    for folder, run_id in partials.items():
        if run_id in committed:
            os.replace(folder, home.outbox / run_id)
            finished.append(run_id)
            log.warning("补齐上次中断的运行 %s 的输出", run_id)
        else:
            shutil.rmtree(folder)
    recorded = store.recorded_destinations(engine, [(i.name, i.sha256) for i in ready])
    remaining = []
    for incoming in ready:
        target = recorded.get((incoming.name, incoming.sha256))
        if target is not None and not (home.root / target[1]).exists():
            intake.move(incoming.path, home.root / target[1])
            if target[0] not in finished:
                finished.append(target[0])
            log.warning("%s 已在运行 %s 入账，补做归档", incoming.name, target[0])
        else:
            remaining.append(incoming)
    return finished, remaining


def exit_code(home: Home, run_id: str) -> int:
    path = home.outbox / run_id / "run.json"
    return json.loads(path.read_text("utf-8")).get("exit_code", 0) if path.exists() else 0
