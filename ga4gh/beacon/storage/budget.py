"""Per-caller query budget in SQL (fixed windows), against differencing attacks on counts."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, text

from common.db import write_transaction


class SqlQueryBudget:
    """QueryBudget over beacon_query_budget; callers are stored only as a SHA-256 digest."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def spend(self, caller: str, window_start: int, limit: int) -> bool:
        key = hashlib.sha256(caller.encode()).hexdigest()
        with write_transaction(self.engine) as conn:
            select = ("SELECT used FROM beacon_query_budget WHERE caller = :c AND "
                      "window_start = :w")
            if conn.dialect.name == "postgresql":
                select += " FOR UPDATE"
            row = conn.execute(text(select), {"c": key, "w": window_start}).first()
            used: int | None = None if row is None else int(row[0])
            if used is None:
                # Old windows are dropped when a caller starts a new one.
                conn.execute(text("DELETE FROM beacon_query_budget WHERE caller = :c"),
                             {"c": key})
                if conn.dialect.name == "postgresql":
                    conn.execute(text(
                        "INSERT INTO beacon_query_budget (caller, window_start, used) "
                        "VALUES (:c, :w, 0) ON CONFLICT DO NOTHING"), {"c": key, "w": window_start})
                    row = conn.execute(text(
                        "SELECT used FROM beacon_query_budget WHERE caller = :c AND "
                        "window_start = :w FOR UPDATE"), {"c": key, "w": window_start}).first()
                    used = None if row is None else int(row[0])
                else:
                    conn.execute(text("INSERT INTO beacon_query_budget (caller, window_start, "
                                      "used) VALUES (:c, :w, 0)"), {"c": key, "w": window_start})
                    used = 0
            if used is None or used >= limit:
                return False
            conn.execute(text("UPDATE beacon_query_budget SET used = used + 1 WHERE caller = :c "
                              "AND window_start = :w"), {"c": key, "w": window_start})
            return True
