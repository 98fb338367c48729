"""T1 (docs/reliability.md section 6): the server killed with SIGKILL in the
middle of ingest from ten enterprises loses no acknowledged reading and
stores none twice.

Ten retrying clients (section 6's load generator: Idempotency-Key per batch,
exponential backoff with jitter) send distinct batches for ten enterprises;
at three moments drawn from a seeded generator (DW_FAULT_SEED, printed) the
server gets SIGKILL while at least one request is written and unanswered, and
is started again.  Reconcile: rows == acknowledged readings, 0 duplicate
natural keys, 0 acknowledged batches missing.

Scale: section 6's 100,000 readings (DW_T1_BATCHES batches of 100 per
enterprise, default 100).  The time from each restart to /readyz 200 is
printed, not asserted (a wall-clock bound flakes on a shared 2-core machine)."""
import os
import random
import time

import dwtest as t
import fault_lib as f

SEED = int(os.environ.get("DW_FAULT_SEED", random.randrange(1 << 30)))
BATCHES = int(os.environ.get("DW_T1_BATCHES", "100"))
SIZE = 100
ENTERPRISES = 10
KILLS = 3


def test_kill_9_under_ten_concurrent_clients_loses_nothing_acknowledged():
    rng = random.Random(SEED)
    print(f"seed {SEED} (DW_FAULT_SEED to replay)", flush=True)
    db = t.Database()
    holder = {"srv": None}
    try:
        ents = f.make_enterprises(db, ENTERPRISES)
        holder["srv"] = t.Server(db)
        shared = f.InFlight()
        base = f.now_utc() - f.timedelta(hours=3)
        clients = [f.LoadClient(e, BATCHES, SIZE, base, lambda: holder["srv"].ingest_port,
                                random.Random(rng.random()), shared=shared) for e in ents]
        deadline = time.time() + 240
        threads = f.run_clients(clients, deadline)
        ready_s = []
        for k in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.0))
            n = shared.kill_while_busy(holder["srv"].proc)
            assert n >= 1
            t0 = time.monotonic()
            holder["srv"] = t.Server(db)
            ready_s.append(time.monotonic() - t0)
            print(f"kill {k + 1}: {n} request(s) in flight; ready again after {ready_s[-1]:.1f} s", flush=True)
        for th in threads:
            th.join()
        assert not any(c.gave_up for c in clients), "a client ran out of time"
        bad = [b for c in clients for b in c.bad]
        assert not bad, bad[:5]
        acked = sum(len(c.acked) for c in clients) * SIZE
        rows, dups, lost = f.reconcile(db, ents, clients, SIZE)
        retries = sum(len(c.history) for c in clients) - BATCHES * ENTERPRISES
        print(f"acked {acked}, stored {rows}, duplicates {dups}, lost acks {lost}, retries {retries}", flush=True)
        assert acked == BATCHES * ENTERPRISES * SIZE, acked
        assert rows == acked, (rows, acked)
        assert dups == 0
        assert lost == 0
        assert retries > 0, "no request was retried: the kills hit nothing"
    finally:
        if holder["srv"]:
            holder["srv"].stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_kill_9_under_ten_concurrent_clients_loses_nothing_acknowledged])
