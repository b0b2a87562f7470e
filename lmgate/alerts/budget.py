"""Budget thresholds: notify once per threshold per budget period, also across restarts.

The thresholds already notified are kept in a small JSON file
(``alerts.state_path``), rewritten when one is added: a restarted sidecar does
not notify again what it notified in this period. When spend jumps over
several thresholds between two checks, one notification names the highest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import orjson

from lmgate.alerts.message import Notification, budget_crossed
from lmgate.policies.headroom import BUDGET, LimitUse
from lmgate.store.periods import PERIOD_KINDS, period_of

log = logging.getLogger("lmgate.alerts")

# (scope, key id or owner, period id) -> the highest threshold notified
Notified = dict[tuple[str, str, str], float]


class BudgetAlerts:
    def __init__(self, thresholds: Iterable[float], state_path: Path) -> None:
        self.thresholds = sorted(thresholds)
        self.state_path = state_path
        self.notified: Notified = _load(state_path)

    def check(self, uses: Iterable[LimitUse], now: float) -> list[Notification]:
        """Notifications for budgets that crossed a threshold not yet notified in their current period."""
        notes = []
        for u in uses:
            if u.rule != BUDGET or u.period is None or u.limit <= 0:
                continue
            ident = (u.scope, u.key_id or u.owner, u.period.id)
            pct = 100 * u.used / u.limit
            crossed = [t for t in self.thresholds if pct >= t]
            if crossed and crossed[-1] > self.notified.get(ident, 0.0):
                self.notified[ident] = crossed[-1]
                notes.append(budget_crossed(u, crossed[-1]))
        if notes:
            self._forget_past_periods(now)
            self._save()
        return notes

    def _forget_past_periods(self, now: float) -> None:
        current = {period_of(kind, now).id for kind in PERIOD_KINDS}
        for ident in [i for i in self.notified if i[2] not in current]:
            del self.notified[ident]

    def _save(self) -> None:
        rows = [[*ident, threshold] for ident, threshold in self.notified.items()]
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(rows))
            os.replace(tmp, self.state_path)
        except OSError as e:  # alerts still go out; a restart may repeat them
            log.error("cannot save the budget alerts sent to %s: %s", self.state_path, e)


def _load(path: Path) -> Notified:
    try:
        rows = orjson.loads(path.read_bytes())
        return {(str(s), str(n), str(p)): float(t) for s, n, p, t in rows}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError) as e:
        log.error("budget alerts state %s unreadable (%s): thresholds of this period may notify again", path, e)
        return {}
