"""Reconciliation: do the indexed positions add up to the protocol's own totals?

Each market's sum of indexed balances is compared with the total the protocol reports
(Aave v3: the aToken's and the debt tokens' ``totalSupply``; Compound III: ``totalSupply``,
``totalBorrow`` and ``totalsCollateral``). A gap means positions were missed (accounts that
emitted no event in the scanned range, e.g. a range starting after the market launched) or
counted twice. Account-level checks compare the health the indexed balances give with the
protocol's own verdict (``getUserAccountData``, ``isLiquidatable``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Mismatch", "Reconciliation"]


@dataclass(frozen=True)
class Mismatch:
    """One market whose indexed sum differs from the protocol's total (base units)."""

    protocol_id: str
    market: str
    quantity: str
    indexed: int
    reported: int

    @property
    def gap(self) -> int:
        return self.reported - self.indexed

    def __str__(self) -> str:
        return (
            f"{self.protocol_id} {self.market} {self.quantity}: indexed {self.indexed}, "
            f"protocol reports {self.reported} (gap {self.gap})"
        )


@dataclass
class Reconciliation:
    """Outcome of comparing an indexer's output with the protocol's totals."""

    protocol_id: str
    markets_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    accounts_checked: int = 0
    account_mismatches: list[str] = field(default_factory=list)

    def compare(self, market: str, quantity: str, indexed: int, reported: int) -> None:
        self.markets_checked += 1
        if indexed != reported:
            self.mismatches.append(Mismatch(self.protocol_id, market, quantity, indexed, reported))

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.account_mismatches

    def summary(self) -> str:
        lines = [
            f"{self.protocol_id}: {self.markets_checked} market totals checked, "
            f"{len(self.mismatches)} mismatched; {self.accounts_checked} accounts checked, "
            f"{len(self.account_mismatches)} disagree"
        ]
        lines.extend(f"  {m}" for m in self.mismatches)
        lines.extend(f"  {a}" for a in self.account_mismatches)
        return "\n".join(lines)
