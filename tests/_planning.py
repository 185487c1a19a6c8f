"""The loop a sweep runs around a planner, for planner tests on analytic problems."""

from __future__ import annotations

import math


def drive(planner, evaluate, budget: int, workers: int = 1, param: str = "weight") -> list[dict]:
    """Ask for free workers, tell results (the oldest in flight finishes first); the rows."""
    rows, pending = [], []
    while True:
        room = min(workers - len(pending), budget - len(rows) - len(pending))
        if room > 0:
            pending += planner.ask(room, pending=pending)
        if not pending:
            return rows
        proposal = pending.pop(0)
        gap = proposal.gap or (math.nan, math.nan)
        row = {**evaluate(proposal.param), param: proposal.param, "gap_lo": gap[0],
               "gap_hi": gap[1]}
        rows.append(row)
        planner.tell(row)
