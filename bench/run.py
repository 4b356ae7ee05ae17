"""Benchmarks: `python bench/run.py --load a` (or b, c, all).

For each load: build (once, cached in bench/.cache/) a realistic home, then time a real
`run_once` on a fresh copy of it and the naive pandas pipeline on the same filings, each in its
own process, sampling the whole process tree's resident memory every 50 ms. Prints wall
seconds, rows per second end to end (read + validate + rules + ledger + every output) and peak
RSS for both, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class Load:
    name: str
    title: str
    filings: int
    rows: int
    members: int
    existing: int          # guarantees already in the ledger, per member


LOADS = {
    "a": Load("a", "a provincial night: 104 filings × 1,000 rows", 104, 1000, 104, 1000),
    "b": Load("b", "one 300,000-row filing", 1, 300_000, 104, 0),
    "c": Load("c", "1,000,000 rows in 1,000 filings, ledger of 1,000,000 guarantees", 1000, 1000,
              104, 9616),
}


def prepare(load: Load) -> Path:
    """The load's home (reference, inbox, ledger), built once and kept in bench/.cache."""
    home = CACHE / load.name
    if (home / "manifest.json").exists():
        _compacted(home)
        return home
    from bench.generate import write_filings, write_reference
    shutil.rmtree(home, ignore_errors=True)
    (home / "reference").mkdir(parents=True)
    started = time.perf_counter()
    write_reference(home / "reference" / "基础数据.xlsx", load.members)
    paths = write_filings(home / "inbox", load.members, load.filings, load.rows, load.existing)
    seeded = _seed(load, home) if load.existing else 0
    manifest = {"rows": _rows(paths), "files": len(paths), "seeded": seeded,
                "build_seconds": round(time.perf_counter() - started, 1)}
    (home / "manifest.json").write_text(json.dumps(manifest))
    return home


def _seed(load: Load, home: Path) -> int:
    from batch.home import Home
    from batch.pipeline import load_params
    from bench.seed import seed_ledger
    params = load_params(Home(home))
    return seed_ledger(f"sqlite:///{home / 'ledger.db'}", params, load.members, load.existing)


def _compacted(home: Path) -> None:
    """A ledger cached by an older version in its page size brought to today's, as an
    installation's is by `reguarantee compact` after an upgrade (once)."""
    from batch import store, upkeep
    from batch.home import Home
    if not (home / "ledger.db").exists():
        return
    with store.opened(Home(home).ledger) as engine, engine.connect() as conn:
        stale = store.old_pages(conn) is not None
    if stale:
        print(f"load {home.name}: the cached ledger rewritten in {store.PAGE_BYTES}-byte pages "
              "(reguarantee compact)", flush=True)
        upkeep.compact_ledger(Home(home))


def _rows(paths: list[Path]) -> int:
    from python_calamine import CalamineWorkbook
    total = 0
    for path in paths:
        book = CalamineWorkbook.from_path(str(path))
        total += sum(max(len(book.get_sheet_by_name(n).to_python()) - 1, 0)
                     for n in book.sheet_names if n != "封面")
    return total


def fresh_copy(home: Path, work: Path, filings: list[str] | None = None) -> Path:
    """A copy of a cached home to run a night on (without its manifest); ``filings``: only
    these of its inbox (names relative to the inbox, as a night names them)."""
    inbox = home / "inbox"
    keep = None if filings is None else {inbox / name for name in filings}

    def left_out(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        out = {"manifest.json"} if here == home else set()
        if keep is not None and here.is_relative_to(inbox):
            out |= {n for n in names if (here / n).is_file() and here / n not in keep}
        return out

    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(home, work, ignore=left_out)
    return work


def first_filings(home: Path, count: int | None) -> list[str] | None:
    """The first ``count`` filings of a cached home, in the order a night takes them (all: None).
    A few hundred of (c)'s filings on its whole ledger make a night short enough to alternate
    two trees or settings several times within one phase of this VM's drift."""
    if count is None:
        return None
    from batch import intake
    ready, _settling = intake.scan(home / "inbox", time.time() + 3600, 0)
    return [incoming.name for incoming in ready[:count]]


def measure(cmd: list[str], env: dict | None = None, cwd: Path = ROOT
            ) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the process and all its children, and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, peak / 2**20, out


def ours(home: Path, workers: int | None, code: Path | None, profile: Path | None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code or ROOT)
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "pyinstrument", "-r", "text", "-o", str(profile)]
    script = ROOT / "bench" / "night.py"
    if code is not None:          # an older checkout: its own command line
        cmd += ["-m", "batch", "--home", str(home), "run", "--date", "2026-03-31", "--settle", "0"]
    else:
        cmd += [str(script), str(home), "" if workers is None else str(workers)]
    env["PYTHONPATH"] = str(code or ROOT)
    return measure(cmd, env, cwd=code or ROOT)      # `python -m` puts the cwd first on the path


def naive(home: Path, out: Path):
    return measure([sys.executable, str(ROOT / "bench" / "naive.py"), str(home / "inbox"),
                    str(out)])


def line(label: str, wall: float, rows: int, peak: float) -> str:
    return f"  {label:<7} {wall:8.1f} s  {rows / wall:9,.0f} rows/s  peak RSS {peak:6,.0f} MB"


def bench(load: Load, args) -> dict:
    home = prepare(load)
    manifest = json.loads((home / "manifest.json").read_text())
    filings = first_filings(home, args.filings)
    rows = manifest["rows"] if filings is None else _rows([home / "inbox" / f for f in filings])
    files = manifest["files"] if filings is None else len(filings)
    work = Path(args.work) / load.name
    print(f"load {load.name} — {load.title}: {files:,} files, {rows:,} rows, "
          f"{manifest['seeded']:,} guarantees already in the ledger", flush=True)
    runs: dict[str, list[tuple[float, float]]] = {}
    for _round in range(args.rounds):
        for label, (wall, peak) in _one_round(load, home, work, filings, rows, args):
            runs.setdefault(label, []).append((wall, peak))
    result = {"load": load.name, "rows": rows,
              **{label: (median(w for w, _ in found), max(p for _, p in found))
                 for label, found in runs.items()}}
    if args.rounds > 1:
        print(f"  medians of {args.rounds} rounds (peak RSS: the highest)", flush=True)
        for label in runs:
            print(line(label, result[label][0], rows, result[label][1]), flush=True)
    if "naive" in result:
        print(f"  ratio    {result['naive'][0] / result['ours'][0]:.1f}× faster than naive", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _one_round(load: Load, home: Path, work: Path, filings: list[str] | None, rows: int, args):
    """One night of each kind (before, ours, naive), each on a fresh copy, printed as it ends."""
    for label, code in (("before", args.before), ("ours", None)):
        if label == "before" and not code:
            continue
        wall, peak, out = ours(fresh_copy(home, work / "home", filings), args.workers,
                               Path(code) if code else None,
                               Path(args.profile) / f"{load.name}.txt" if args.profile else None)
        print(line(label, wall, rows, peak), flush=True)
        if not code and not args.profile:
            _, main_cpu, workers_cpu = out.split()[-3:]
            print(f"          CPU: main process {float(main_cpu):.1f} s, "
                  f"worker processes {float(workers_cpu):.1f} s", flush=True)
        yield label, (wall, peak)
    if not args.no_naive:
        inbox_of = fresh_copy(home, work / "naive-home", filings) if filings else home
        wall, peak, out = naive(inbox_of, work / "naive-out")
        print(line("naive", wall, int(out.split()[-1]), peak), flush=True)
        yield "naive", (wall, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", choices=[*LOADS, "all"], default="a")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the batch decides: cores - 1)")
    parser.add_argument("--no-naive", action="store_true", help="skip the pandas pipeline")
    parser.add_argument("--before", default="", help="another checkout to time as 'before'")
    parser.add_argument("--profile", default="", help="folder for pyinstrument profiles")
    parser.add_argument("--work", default=str(CACHE / "work"), help="scratch folder")
    parser.add_argument("--rounds", type=int, default=1,
                        help="nights of each kind, alternated; medians printed after")
    parser.add_argument("--filings", type=int, default=None,
                        help="only the first N filings of the load (its whole ledger)")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    for name in (LOADS if args.load == "all" else [args.load]):
        bench(LOADS[name], args)


if __name__ == "__main__":
    main()
