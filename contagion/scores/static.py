"""Static dependency scores: what the exposure data alone says others depend on.

Four measures, each a named score whose parts say why (rows of ``DependencyScores.components``):

* ``oracle_concentration`` (feeds): the collateral and debt whose health reads the feed,
  directly or through a composite feed, part by protocol; context rows give its share of all
  value priced, its term of the Herfindahl-Hirschman index across feeds and, on a protocol,
  the HHI of its own value across the feeds it reads;
* ``pool_dependency`` (pools): the liquidation flow the pool would receive when each price
  root falls by ``shock`` alone (``queries/shallow_pools.sql``), part by protocol liquidating,
  set against the pool's depth at 2% slippage computed with the AMM curves
  (:func:`~contagion.scores.depth.pool_depths`);
* ``receipt_exposure`` (protocols): value other protocols hold in the tokens it issues, as
  collateral or stablecoin backing (``queries/protocol_exposures.sql``), part by holder;
* ``debtrank`` (protocols): DebtRank (Battiston et al., 2012) of the protocol's default on the
  protocol exposure matrix of ``protocol_exposures``, in USD: each other protocol's added
  distress times its economic value (TVL plus stablecoin supply), part by protocol hit;
* ``liquidations_at_shock`` (assets and stablecoins): collateral that becomes liquidatable
  when the asset's price root falls by ``shock`` (``book_root_exposure``), part by protocol.

A component's ``static`` score is the sum of its measures in USD, so every static score
decomposes into parts; rows in other units (share, index, ratio, usd_level) are context.

References
----------
Battiston, Puliga, Kaushik, Tasca & Caldarelli (2012). DebtRank: Too Central to Fail?
Gudgeon, Perez, Harz, Livshits & Gervais (2020). The Decentralized Financial Crisis.
Rhoades (1993). The Herfindahl-Hirschman Index. Federal Reserve Bulletin 79.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contagion.dataset import Dataset
from contagion.debtrank import debtrank
from contagion.scores.depth import pool_depths
from contagion.store import Store

__all__ = ["COMPONENT_COLUMNS", "ScoreRows", "node_labels", "static_scores"]

COMPONENT_COLUMNS = ["component", "score", "part", "value", "unit"]


@dataclass
class ScoreRows:
    """Component rows being collected, with each component's label and kind."""

    rows: list[tuple[str, str, str, float, str]] = field(default_factory=list)
    meta: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, component: str, score: str, part: str, value: float, unit: str = "usd") -> None:
        self.rows.append((component, score, part, float(value), unit))

    def node(self, component: str, label: str, kind: str) -> None:
        self.meta.setdefault(component, (label, kind))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COMPONENT_COLUMNS)


def static_scores(dataset: Dataset, store: Store, *, shock: float) -> ScoreRows:
    """Every static measure of ``dataset`` (see the module docstring) as component rows."""
    out = ScoreRows()
    labels = node_labels(store)
    _oracle_concentration(store, out, labels)
    _pool_dependency(dataset, store, shock, out, labels)
    exposures = store.query("protocol_exposures").to_pandas()
    _receipt_exposure(exposures, out, labels)
    _debtrank(store, exposures, out, labels)
    _liquidations_at_shock(dataset, store, shock, out, labels)
    return out


def node_labels(store: Store) -> dict[str, str]:
    """Display label of every exposure-graph node (on-chain text: untrusted)."""
    nodes = store.query("graph_nodes").select(["node_id", "label"]).to_pandas()
    return dict(zip(nodes["node_id"], nodes["label"].fillna(""), strict=True))


def _total(out: ScoreRows, component: str, measure: str, parts: pd.Series) -> None:
    """Part rows of ``measure`` and their sum as the measure's part of the static score."""
    for name, value in parts.items():
        out.add(component, measure, str(name), value)
    out.add(component, "static", measure, parts.sum())


def _oracle_concentration(store: Store, out: ScoreRows, labels: dict[str, str]) -> None:
    usage = store.query("feed_usage").to_pandas()
    if usage.empty:
        return
    direct = usage[usage["direct"]]
    total = direct["priced_usd"].sum()
    direct_share = direct.groupby("feed_id")["priced_usd"].sum() / total if total > 0 else None
    for feed_id, rows in usage.groupby("feed_id", sort=True):
        node = f"feed:{feed_id}"
        out.node(node, labels.get(node, str(feed_id)), "feed")
        parts = rows.groupby("protocol_id")["priced_usd"].sum()
        _total(out, node, "oracle_concentration", parts.rename(lambda p: f"priced for {p}"))
        if total > 0:
            out.add(
                node, "oracle_concentration", "share of value priced", parts.sum() / total, "share"
            )
            term = float(direct_share.get(feed_id, 0.0)) ** 2 if direct_share is not None else 0.0
            out.add(node, "oracle_concentration", "term of the HHI across feeds", term, "index")
    for protocol_id, rows in direct.groupby("protocol_id", sort=True):
        value = rows.groupby("feed_id")["priced_usd"].sum()
        if value.sum() <= 0:
            continue
        node = f"protocol:{protocol_id}"
        out.node(node, labels.get(node, str(protocol_id)), "protocol")
        hhi = float(((value / value.sum()) ** 2).sum())
        out.add(
            node, "oracle_concentration", "HHI of its value across the feeds it reads", hhi, "index"
        )


def _pool_dependency(
    dataset: Dataset, store: Store, shock: float, out: ScoreRows, labels: dict[str, str]
) -> None:
    depths = pool_depths(dataset)
    flows = store.query("shallow_pools", {"shock": shock, "min_ratio": 0.0}).to_pandas()
    by_protocol = _flow_by_protocol(store, shock)
    for pool_id, tokens in depths.groupby("pool_id", sort=True):
        node = f"pool:{pool_id}"
        out.node(node, labels.get(node, str(pool_id)), "pool")
        mine = flows[flows["pool_id"] == pool_id]
        parts: dict[str, float] = {}
        for row in mine.itertuples():
            shares = by_protocol.get(row.root_asset_id, pd.Series(dtype=float))
            for protocol_id, share in shares.items():
                key = f"liquidations in {protocol_id} sold as {row.symbol}"
                parts[key] = parts.get(key, 0.0) + float(row.flow_usd) * float(share)
        _total(out, node, "pool_dependency", pd.Series(parts, dtype=float))
        for row in tokens.itertuples():
            depth = float(row.depth_usd)  # type: ignore[arg-type]
            out.add(
                node,
                "pool_dependency",
                f"depth at 2% selling {row.symbol}",
                depth,
                "usd_level",
            )
            flow = float(mine.loc[mine["token_index"] == row.token_index, "flow_usd"].sum())
            if depth > 0:
                out.add(
                    node,
                    "pool_dependency",
                    f"flow / depth at 2% ({row.symbol})",
                    flow / depth,
                    "ratio",
                )


def _newly_liquidatable(store: Store, shock: float) -> pd.DataFrame:
    """Books of ``book_root_exposure`` healthy now and liquidatable when their root moves by shock."""
    books = store.query("book_root_exposure").to_pandas()
    lv_in, lv_out = books["liquidation_value_in_usd"], books["liquidation_value_out_usd"]
    debt_in, debt_out = books["debt_in_usd"], books["debt_out_usd"]
    healthy = lv_in + lv_out >= debt_in + debt_out
    falls = lv_in * (1 + shock) + lv_out < debt_in * (1 + shock) + debt_out
    hit = books[healthy & falls].copy()
    hit["flow_usd"] = hit["collateral_in_usd"] * (1 + shock)
    return hit


def _flow_by_protocol(store: Store, shock: float) -> dict[str, pd.Series]:
    """Per price root, each protocol's share of the collateral liquidated at the shock."""
    hit = _newly_liquidatable(store, shock)
    flow = hit.groupby(["root_asset_id", "protocol_id"])["flow_usd"].sum()
    return {
        str(root): (part / part.sum()).droplevel(0)
        for root, part in flow.groupby(level=0)
        if part.sum() > 0
    }


def _receipt_exposure(exposures: pd.DataFrame, out: ScoreRows, labels: dict[str, str]) -> None:
    for issuer, rows in exposures.groupby("issuer_protocol_id", sort=True):
        node = f"protocol:{issuer}"
        out.node(node, labels.get(node, str(issuer)), "protocol")
        names = (
            rows["holder_protocol_id"]
            + " holds "
            + rows["symbol"].fillna("?")
            + " as "
            + rows["channel"]
        )
        _total(out, node, "receipt_exposure", rows.groupby(names.to_numpy())["usd"].sum())


def _debtrank(
    store: Store, exposures: pd.DataFrame, out: ScoreRows, labels: dict[str, str]
) -> None:
    if exposures.empty:
        return
    names = sorted(set(exposures["holder_protocol_id"]) | set(exposures["issuer_protocol_id"]))
    at = {p: k for k, p in enumerate(names)}
    n = len(names)
    matrix = np.zeros((n, n))
    np.add.at(
        matrix,
        (
            exposures["holder_protocol_id"].map(at).to_numpy(),
            exposures["issuer_protocol_id"].map(at).to_numpy(),
        ),
        exposures["usd"].to_numpy(dtype=float),
    )
    tvl = store.query("protocol_tvl").to_pandas().set_index("protocol_id").reindex(names)
    value = (tvl["tvl_usd"].fillna(0) + tvl["stablecoin_supply_usd"].fillna(0)).to_numpy(
        dtype=float
    )
    lending = (tvl["kind"] == "lending").to_numpy()
    cushion = (tvl["collateral_usd"].fillna(0) - tvl["debt_usd"].fillna(0)).clip(lower=0).to_numpy()
    # Lending protocols lose only once borrowers' cushion is gone; a protocol holding deposits
    # one for one (a vault, a backed stablecoin) loses what its holdings lose, so its buffer is
    # its whole value and the impact is the share of value lost.
    buffers = np.where(lending, cushion, value)
    weights = value if value.sum() > 0 else np.ones(n)
    economic = float(weights.sum())
    for j, issuer in enumerate(names):
        start = np.zeros(n)
        start[j] = 1.0
        done = debtrank(matrix, buffers, start, weights=weights)
        node = f"protocol:{issuer}"
        out.node(node, labels.get(node, issuer), "protocol")
        added = done.additional_stress * weights
        hit = pd.Series(added, index=[f"distress of {p}" for p in names])
        _total(out, node, "debtrank", hit[hit > 0])
        out.add(node, "debtrank", "DebtRank (share of economic value)", done.debtrank, "index")
    out.add("system", "debtrank", "economic value (TVL + stablecoin supply)", economic, "usd_level")


def _liquidations_at_shock(
    dataset: Dataset, store: Store, shock: float, out: ScoreRows, labels: dict[str, str]
) -> None:
    stable = set(dataset.table("stablecoins").column("asset_id").to_pylist())
    hit = _newly_liquidatable(store, shock)
    books = store.query("book_root_exposure").select(["root_asset_id"]).to_pandas()
    for root in sorted(set(books["root_asset_id"])):
        node = f"asset:{root}"
        out.node(node, labels.get(node, root), "stablecoin" if root in stable else "asset")
        mine = hit[hit["root_asset_id"] == root]
        parts = mine.groupby("protocol_id")["flow_usd"].sum().rename(lambda p: f"collateral in {p}")
        _total(out, node, "liquidations_at_shock", parts)
