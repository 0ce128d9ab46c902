"""How each cost grows with the data: 1x, 2x and 4x a base share of the province.

    PYTHONPATH=. python bench/bench_growth.py [--factor 0.05] [--seed 1] [--runs 20]
        [--rounds 2] [--reuse-dir DIR] [--out docs/benchmarks]

For the factors f, 2f and 4f of ``--scale province`` it generates a store (in
``--reuse-dir``/f<factor>, kept, so a second run measures without generating again; the
generation's own figure is kept beside it in ``generation.json``; a folder there that holds a
store ``cobuild generate`` wrote, e.g. a link to it, is measured without a generation
figure), then measures, on that store (only read), with the other benches' own functions:

- generation events/s (``bench_generate.generated``: every command through the engine);
- reading and decoding the log (``bench_projections.read_and_decode``) and a from-zero
  rebuild in a child process with its peak RSS (``bench_memory.rebuild``);
- the reports' p50/p95 (``bench_reports.measure``, on the rebuilt projections);
- whole-store Merkle verification events/s (``workflows.audit.verify.verify_store``, as
  ``bench_audit``).

Throughputs are the best of ``--rounds`` (the generation runs once).

The baseline of each size is the 1x size of the same run: the table prints, per cost, the
cost per event (for throughputs) or the time (for report pages) at 2x and 4x over 1x.
Linear in the data means a flat cost per event (ratio 1.0); a report page that reads a fixed
number of rows should keep a flat time.  Writes ``growth.json`` and ``growth.png`` into
``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_generate import generated
from bench_memory import rebuild
from bench_projections import read_and_decode
from bench_reports import measure
from workflows.audit.verify import verify_store
from projections.runner import ProjectionRunner
from projections.store import ProjectionDatabase
from workflows.store.clock import SystemClock, local_date
from workflows.store.settings import Settings
from workflows.engine import open_engine
from workflows.generate import Scale

THROUGHPUTS = (("generation_events_per_s", "generation"), ("read_decode_events_per_s", "read+decode"),
               ("rebuild_events_per_s", "rebuild"), ("verify_events_per_s", "Merkle verification"))


def today() -> date:
    return local_date(SystemClock().now())


def store(folder: Path, factor: float, seed: int) -> dict[str, Any]:
    """The generated store in ``folder`` (made now if missing) and its generation figure."""
    figure = folder / "generation.json"
    if figure.exists():
        return json.loads(figure.read_text())
    if (folder / "events.sqlite").exists():
        # A store generated elsewhere (``cobuild generate``, e.g. linked here): measured
        # as it is, without a generation figure.
        engine = open_engine(Settings(home=folder))
        events = engine.recorder.max_notification_id() or 0
        engine.close()
        return {"factor": factor, "seed": None, "events": events, "generation_seconds": None,
                "generation_events_per_s": None, "generation_load": None}
    load = os.getloadavg()[0]
    events, seconds = generated(folder, Scale.named("province", factor), seed)
    result = {"factor": factor, "seed": seed, "events": events, "generation_seconds": seconds,
              "generation_events_per_s": events / seconds, "generation_load": load}
    figure.write_text(json.dumps(result, indent=1))
    return result


def measure_size(folder: Path, factor: float, seed: int, runs: int, as_of: date,
                 rounds: int) -> dict[str, Any]:
    """The figures of one size; throughputs are the best of ``rounds``, to damp the noise of
    a shared machine (the peak RSS is the highest of them)."""
    row = dict(store(folder, factor, seed))
    row["load_before"] = os.getloadavg()[0]
    engine = open_engine(Settings(home=folder))
    try:
        row["read_decode_events_per_s"] = max(
            count / seconds for count, seconds in (read_and_decode(engine) for _ in range(rounds)))
        with tempfile.TemporaryDirectory(prefix="cobuild-bench-growth-") as tmp:
            builds = []
            for k in range(rounds):
                projections = Path(tmp) / f"projections-{k}.sqlite"
                builds.append(rebuild(folder, projections))
            best = max(builds, key=lambda r: r["events_per_s"])
            row.update(rebuild_events_per_s=best["events_per_s"],
                       rebuild_peak_mb=max(r["peak_mb"] for r in builds),
                       rebuild_idle_mb=best["idle_mb"], rebuild_profile_mb=best["profile_mb"])
            runner = ProjectionRunner(engine, ProjectionDatabase(projections))
            row["reports"] = measure(runner, runs, as_of)
            runner.db.close()
    finally:
        engine.close()
    verify = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = verify_store(folder / "events.sqlite")
        assert result.ok, result.summary()
        verify.append(result.events / (time.perf_counter() - started))
    row["verify_events_per_s"] = max(verify)
    row["load_after"] = os.getloadavg()[0]
    return row


def report_p95(row: dict[str, Any]) -> dict[str, float]:
    """Report name (county code masked, it differs by size) -> p95 ms."""
    out = {}
    for r in row["reports"]:
        label = r["report"]
        if "(33" in label:
            label = label[:label.index("(33")] + "(county)"
        out[label] = r["p95_ms"]
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    base = rows[0]
    head = f"{'cost':<34}" + "".join(f"{'x%g' % (r['factor'] / base['factor']):>12}" for r in rows)
    print(head + "".join(f"{'%gx/1x' % (r['factor'] / base['factor']):>10}" for r in rows[1:]))
    print(f"{'events':<34}" + "".join(f"{r['events']:>12,}" for r in rows))
    for key, label in THROUGHPUTS:
        # cost per event relative to 1x: rate at 1x over rate at kx
        if any(r[key] is None for r in rows):
            print(f"{label + ' events/s':<34}" + "".join(
                f"{'n/a' if r[key] is None else format(r[key], ',.0f'):>12}" for r in rows))
            continue
        print(f"{label + ' events/s':<34}" + "".join(f"{r[key]:>12,.0f}" for r in rows)
              + "".join(f"{base[key] / r[key]:>10.2f}" for r in rows[1:]))
    print(f"{'rebuild peak RSS MB':<34}" + "".join(f"{r['rebuild_peak_mb']:>12.0f}" for r in rows)
          + "".join(f"{r['rebuild_peak_mb'] / base['rebuild_peak_mb']:>10.2f}" for r in rows[1:]))
    p95s = [report_p95(r) for r in rows]
    for label in p95s[0]:
        print(f"{label + ' p95 ms':<34}" + "".join(f"{p[label]:>12.1f}" for p in p95s)
              + "".join(f"{p[label] / p95s[0][label]:>10.2f}" for p in p95s[1:]))
    print("(throughputs: ratio = cost per event at kx over 1x, 1.0 = linear; RSS and reports: "
          "ratio of the figure itself)")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = [r["events"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    measured = [(k, label) for k, label in THROUGHPUTS if all(r[k] is not None for r in rows)]
    for key, label in measured:
        ax.plot(events, [rows[0][key] / r[key] for r in rows], marker="o",
                label=f"{label} ({1e6 / rows[0][key]:.0f} us/event at 1x)")
    ax.axhline(1, color="grey", linestyle=":", linewidth=1)
    ax.set(title="Cost per event over 1x (1.0 = linear in data)", xlabel="events in the store",
           ylabel="cost per event / cost per event at 1x")
    ax.set_ylim(0, max(2.0, *(rows[0][k] / r[k] for k, _ in measured for r in rows)) * 1.1)
    ax.legend(fontsize=8)
    ax = axes[1]
    p95s = [report_p95(r) for r in rows]
    for label in p95s[0]:
        ax.plot(events, [p[label] for p in p95s], marker="o", label=label)
    ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    ax.axhline(200, color="grey", linestyle="--", linewidth=1)
    ax.set(title="Report latency p95 (aims: inactive p1 50 ms, coverage 200 ms)",
           xlabel="events in the store", ylabel="ms")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(events, [r["rebuild_peak_mb"] for r in rows], marker="o", label="rebuild peak (VmHWM)")
    ax.plot(events, [r["rebuild_idle_mb"] for r in rows], marker="o", label="same process, idle")
    ax.axhline(300, color="red", linestyle="--", linewidth=1, label="aim 300 MB")
    ax.set(title="Rebuild memory", xlabel="events in the store", ylabel="RSS MB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlim(left=0)
        if max(events) >= 1_000_000:  # "12000000" labels run into each other
            ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1e6:g}M")
        else:
            ax.ticklabel_format(axis="x", style="plain")
    loads = ", ".join(f"{r['load_before']:.1f}" for r in rows)
    fig.suptitle(f"cobuild cost against data size ({today()}, {os.cpu_count()} vCPU, SQLite "
                 f"{sqlite3.sqlite_version}, Python {platform.python_version()}; load average "
                 f"before each size: {loads})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=0.05, help="the 1x share of the province")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20, help="runs per report latency")
    parser.add_argument("--rounds", type=int, default=2, help="best of, for each throughput")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 9, 30))
    parser.add_argument("--reuse-dir", type=Path, default=Path("/tmp/cobuild-bench-growth"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "benchmarks")
    args = parser.parse_args()
    rows = []
    for k in (1, 2, 4):
        factor = args.factor * k
        folder = args.reuse_dir / f"f{factor:g}"
        print(f"x{k}: province x{factor:g} in {folder}; load average {os.getloadavg()[0]:.2f}", flush=True)
        rows.append(measure_size(folder, factor, args.seed, args.runs, args.as_of, args.rounds))
        print(f"  {rows[-1]['events']:,} events measured; load average {rows[-1]['load_after']:.2f}",
              flush=True)
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "growth.json").write_text(json.dumps(
        {"date": today().isoformat(), "command": " ".join(sys.argv), "cpus": os.cpu_count(),
         "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "sizes": rows},
        indent=1, ensure_ascii=False))
    plot(rows, args.out / "growth.png")
    print(f"wrote {args.out / 'growth.json'} and {args.out / 'growth.png'}")


if __name__ == "__main__":
    main()
