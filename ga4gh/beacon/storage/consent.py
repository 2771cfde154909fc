"""Live research consent for the Beacon index (Beacon v2 requirement of this deployment:
only individuals whose consent allows research *now* are counted).

Queries filter on ``beacon_individual.research_consent``, a per-carrier table that is kept
current at query time instead of by a scheduled job:

- the trust center numbers every recorded consent change (participation declaration, broad
  consent, a new case of a person); ``beacon_consent_state.seq`` is the position the table has
  applied. Each query asks the feed for changes after it (one indexed lookup in-process, one
  small POST over HTTP) and re-evaluates only the pseudonyms it names;
- each answer comes with the moment it may change by itself (a consent period ends, a dated
  statement takes effect), stored as ``consent_until_us``; rows due by now (and new rows,
  stored with 0) are re-evaluated too. ``MIN(consent_until_us)`` is an index lookup.

Nothing to do costs one SELECT on the index and one feed call. Updates are serialised (the
state row's lock on PostgreSQL, the write lock on SQLite) and re-read the position under the
lock, so concurrent workers never write an older answer over a newer one. If the trust center
cannot be asked, the query fails (503) rather than count on stale consent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, bindparam, text

from common.db import is_sqlite, write_transaction
from ga4gh.beacon.core.ports import ConsentState, LiveConsent

log = logging.getLogger("genomseq.beacon")
_CHUNK = 1000
# Past this many changed pseudonyms in one sync, re-evaluating every carrier is cheaper.
_FULL_AFTER = 20_000


def _now_us() -> int:
    return time.time_ns() // 1000


def _us(state: ConsentState) -> int | None:
    return None if state.until is None else int(state.until.timestamp() * 1_000_000)


class LiveConsentTable:
    """Keeps ``beacon_individual.research_consent`` current against a LiveConsent port."""

    def __init__(self, engine: Engine, consent: LiveConsent,
                 clock_us: Callable[[], int] = _now_us) -> None:
        self.engine = engine
        self.consent = consent
        self.clock_us = clock_us

    def _state(self, conn: Any) -> tuple[int | None, str | None, int | None]:
        row = conn.execute(text(
            "SELECT (SELECT seq FROM beacon_consent_state WHERE id = 1), "
            "(SELECT domain FROM beacon_consent_state WHERE id = 1), "
            "(SELECT MIN(consent_until_us) FROM beacon_individual)")).one()
        return row[0], row[1], row[2]

    def sync(self, conn: Any = None) -> int:
        """Bring the table up to date before a query; returns how many pseudonyms were
        re-evaluated (0 in the common case: one SELECT and one feed call). With ``conn`` the
        state is read on the request's own connection (no extra checkout or round trip);
        updates always run in a transaction of their own."""
        now = self.clock_us()
        if conn is not None:
            seq, domain, due = self._state(conn)
        else:
            with self.engine.connect() as own:
                seq, domain, due = self._state(own)
        if seq is None or domain != self.consent.domain:
            return self.evaluate_all()
        page = self.consent.changes(seq)
        if page.seq < seq:  # the trust center's feed restarted: the position means nothing
            return self.evaluate_all()
        if page.seq == seq and not page.more and (due is None or due > now):
            return 0
        return self._apply(now)

    def _lock(self, conn: Any) -> tuple[int | None, str | None]:
        # SQLite: the write transaction already holds the database's write lock.
        sql = "SELECT seq, domain FROM beacon_consent_state WHERE id = 1"
        row = conn.execute(text(sql if is_sqlite(self.engine) else sql + " FOR UPDATE")).first()
        return (int(row[0]), row[1]) if row else (None, None)

    def _apply(self, now: int) -> int:
        with write_transaction(self.engine) as conn:
            seq, domain = self._lock(conn)
            full = seq is None or domain != self.consent.domain
            changed: set[str] = set()
            if not full:
                assert seq is not None
                while True:
                    page = self.consent.changes(seq)
                    if page.seq < seq:
                        full = True
                        break
                    changed |= page.pseudonyms
                    seq = max(seq, page.seq)
                    if not page.more or len(changed) > _FULL_AFTER:
                        break
                full = full or len(changed) > _FULL_AFTER
            if not full:
                due = [r[0] for r in conn.execute(text(
                    "SELECT DISTINCT pseudonym FROM beacon_individual "
                    "WHERE consent_until_us <= :now"), {"now": now})]
                indexed = self._indexed(conn, changed)
                n = self._write(conn, sorted(set(due) | indexed), now)
                conn.execute(text("UPDATE beacon_consent_state SET seq = :s, evaluated_at = :t "
                                  "WHERE id = 1"), {"s": seq, "t": now // 1_000_000})
                return n
        return self.evaluate_all()

    def _indexed(self, conn: Any, pseudonyms: Iterable[str]) -> set[str]:
        values = sorted(pseudonyms)
        out: set[str] = set()
        for i in range(0, len(values), _CHUNK):
            out.update(r[0] for r in conn.execute(text(
                "SELECT DISTINCT pseudonym FROM beacon_individual WHERE pseudonym IN :p")
                .bindparams(bindparam("p", expanding=True)), {"p": values[i:i + _CHUNK]}))
        return out

    def _write(self, conn: Any, pseudonyms: list[str], now: int) -> int:
        for i in range(0, len(pseudonyms), _CHUNK):
            chunk = pseudonyms[i:i + _CHUNK]
            answers = self.consent.status(chunk)
            conn.execute(text(
                "UPDATE beacon_individual SET research_consent = :c, consent_until_us = :u, "
                "consent_checked_at = :t WHERE pseudonym = :p"),
                [{"c": answers.get(p, ConsentState(False)).allowed,
                  "u": _us(answers.get(p, ConsentState(False))),
                  "t": now // 1_000_000, "p": p} for p in chunk])
        if pseudonyms:
            log.info("beacon: consent re-evaluated", extra={"pseudonyms": len(pseudonyms)})
        return len(pseudonyms)

    def evaluate_all(self) -> int:
        """Ask the consent of every indexed individual and start the feed from its newest
        position (the position is taken first: changes recorded meanwhile apply again)."""
        now = self.clock_us()
        head = self.consent.changes(0, limit=0).seq
        with write_transaction(self.engine) as conn:
            # Two first requests may race here: the row is created once, then locked.
            conn.execute(text("INSERT INTO beacon_consent_state (id, domain, seq, evaluated_at) "
                              "VALUES (1, '', 0, 0) ON CONFLICT (id) DO NOTHING"))
            self._lock(conn)
            pseudonyms = [r[0] for r in conn.execute(text(
                "SELECT DISTINCT pseudonym FROM beacon_individual ORDER BY pseudonym"))]
            n = self._write(conn, pseudonyms, now)
            conn.execute(text(
                "UPDATE beacon_consent_state SET domain = :d, seq = :s, evaluated_at = :t "
                "WHERE id = 1"), {"d": self.consent.domain, "s": head, "t": now // 1_000_000})
        return n
