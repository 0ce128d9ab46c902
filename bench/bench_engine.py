"""Engine commands per second on SQLite against raw ``eventsourcing`` saves, same run.

Both sides write the same events to their own SQLite file, with the same recorder: for each pairing, a proposal
(with its slot), an acceptance, two signatures, an activity and its co-signature.  The
baseline calls the aggregates and ``Application.save`` directly; the engine adds what a user
relies on (attribution, authorisation, organisation checks, conflict handling).

    .venv/bin/python bench/bench_engine.py [--pairings 1000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application

from domain.base import Attribution
from domain.pairing import Pairing, PairingSlot
from workflows.audit.wiring import audited_env
from workflows.store.clock import FakeClock
from workflows.store.settings import Settings
from workflows.core import DateAsISO
from workflows.engine import open_engine

COMMANDS_PER_PAIRING = 6
START = datetime(2025, 3, 1, 1, tzinfo=timezone.utc)


class RawApp(Application[UUID]):
    def register_transcodings(self, transcoder):
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


def setup_engine(folder: Path, n: int):
    engine = open_engine(Settings(home=folder), FakeClock(START))
    admin = engine.authenticate(engine.bootstrap_admin())
    pairs = []
    for i in range(n):
        g = engine.register_organisation(admin, f"G{i}", f"机关{i}", "agency", "331123000000").id
        v = engine.register_organisation(admin, f"V{i}", f"村{i}", "village", "331123101201").id
        _, gt = engine.register_user(admin, f"g{i}", "agency", g)
        _, vt = engine.register_user(admin, f"v{i}", "village", v)
        pairs.append((g, v, engine.authenticate(gt), engine.authenticate(vt)))
    return engine, pairs


def run_engine(engine, pairs) -> float:
    today = engine.today()
    begin = time.perf_counter()
    for g, v, ga, va in pairs:
        p = engine.propose_pairing(ga, g, v, date(2025, 1, 1), date(2027, 12, 31)).id
        engine.accept_pairing(va, p)
        engine.sign_agreement(ga, p, today)
        engine.sign_agreement(va, p, today)
        a = engine.record_activity(ga, p, "visit", "走访", START).details["activity_id"]
        engine.cosign_activity(va, p, a)
    return time.perf_counter() - begin


def run_raw(app: RawApp, pairs) -> float:
    today = START.date()
    begin = time.perf_counter()
    for n, (g, v, ga, va) in enumerate(pairs):
        by_g, by_v = Attribution(ga, START), Attribution(va, START + timedelta(seconds=1))
        p = Pairing.propose(by_g, g, v, date(2025, 1, 1), date(2027, 12, 31))
        slot = PairingSlot(giver_id=g, receiver_id=v)
        slot.take(by_g, p.id)
        app.save(p, slot)
        for step in range(5):
            p = app.repository.get(p.id)
            if step == 0:
                p.accept(by_v)
            elif step == 1:
                p.sign_agreement(by_g, today)
            elif step == 2:
                p.sign_agreement(by_v, today)
            elif step == 3:
                p.record_activity(by_g, f"a{n}", "visit", "走访")
            else:
                p.cosign_activity(by_v, f"a{n}")
            app.save(p)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    commands = args.pairings * COMMANDS_PER_PAIRING
    ratios = []
    for round_no in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            engine, pairs = setup_engine(Path(tmp) / "engine", args.pairings)
            # The same store settings as the engine (the audited recorder included), so the
            # ratio is what the engine itself adds.
            raw_env = audited_env(Settings(home=Path(tmp) / "raw").eventsourcing_env())
            (Path(tmp) / "raw").mkdir()
            raw = RawApp(env=raw_env)
            # Alternate which side runs first so disk-cache warm-up favours neither.
            if round_no % 2:
                raw_s, engine_s = run_raw(raw, pairs), run_engine(engine, pairs)
            else:
                engine_s, raw_s = run_engine(engine, pairs), run_raw(raw, pairs)
            engine.close()
            raw.close()
        raw_rate, engine_rate = commands / raw_s, commands / engine_s
        ratios.append(engine_rate / raw_rate)
        print(f"round {round_no}: raw eventsourcing {raw_rate:8.0f} commands/s | "
              f"engine {engine_rate:8.0f} commands/s | ratio {engine_rate / raw_rate:.2f}")
    ratios.sort()
    print(f"median ratio engine/raw over {args.rounds} rounds: {ratios[len(ratios) // 2]:.2f} "
          f"({commands} commands per side per round)")


if __name__ == "__main__":
    main()
