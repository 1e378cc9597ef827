"""The typed exposure graph: who is exposed to what, in USD, with provenance.

The graph is a multiplex of node kinds (protocol, market, asset, oracle feed, pool, derivative
venue, account cluster) and edge kinds (``collateral_in``, ``debt_in``, ``prices_with``,
``liquidity_in``, ``receipt_of``, ``backs``, ``hedges_on``, ``part_of``, ``exposed_to``), as
laid out in docs/ARCHITECTURE.md, "Exposure graph". Every relation is computed by DuckDB from
the shipped queries ``graph_nodes``, ``graph_edges`` and ``protocol_tvl``, so the graph holds
aggregates only: a million positions reduce to hundreds of edges, and the networkx view is
built from those. The layering follows the overlapping-portfolio networks of Cont &
Schaanning (2017) and Greenwood, Landier & Thesmar (2015): assets link the institutions
(here protocols and borrower clusters) that hold them or lend against them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd
import pyarrow as pa

from contagion._atomic import atomic_file
from contagion.store import Store

if TYPE_CHECKING:
    from contagion.dataset import Dataset

__all__ = [
    "EDGE_COLUMNS",
    "EDGE_KINDS",
    "NODE_COLUMNS",
    "NODE_KINDS",
    "ExposureGraph",
    "build_graph",
]

NODE_KINDS: dict[str, str] = {
    "protocol": "a protocol or venue; usd = TVL (lending supply + pool and PSM reserves)",
    "market": "a protocol x asset market; usd = supplied value",
    "asset": "a token; usd = price x supply (issuer's supply for a stablecoin, else lent + pooled)",
    "oracle_feed": "a price feed; usd = collateral + debt whose health reads it",
    "pool": "an AMM pool; usd = reserves",
    "derivative_venue": "a venue's option and perpetual book; usd = open interest notional",
    "account_cluster": "the borrowers owing one set of lending protocols; usd = their debt",
}
"""Node kinds, in display order, with what a node is and what its ``usd`` measures."""

EDGE_KINDS: dict[str, str] = {
    "collateral_in": "asset -> market: supplied value counted as collateral",
    "debt_in": "asset -> market: borrowed value",
    "prices_with": "feed -> market it prices, source feed -> composite feed: value priced",
    "liquidity_in": "asset -> pool: reserve value; pool -> asset: where liquidations sell it",
    "receipt_of": "issuer -> its receipt, LST, LP or vault token; token -> another protocol's "
    "market taking it as collateral",
    "backs": "backing asset -> stablecoin: supply x backing share x peg; algorithmic coins "
    "also stablecoin -> governance token",
    "hedges_on": "derivative venue -> underlying: option and perpetual open interest notional",
    "part_of": "market, pool or derivative venue -> its protocol",
    "exposed_to": "account cluster -> protocol it owes: the cluster's debt there",
}
"""Edge kinds, in display order, with their direction and what their ``usd`` weight measures."""

NODE_COLUMNS = (
    "node_id",
    "kind",
    "label",
    "protocol_id",
    "asset_id",
    "usd",
    "chain_id",
    "detail",
    "source",
    "block_number",
    "timestamp",
)
EDGE_COLUMNS = (
    "src",
    "dst",
    "kind",
    "usd",
    "chain_id",
    "detail",
    "source",
    "block_number",
    "timestamp",
)
_FORMATS = ("graphml", "gexf")
_POSITION_AGGREGATES = ("market_totals", "cluster_exposure")


@dataclass(frozen=True)
class ExposureGraph:
    """Nodes and edges of the exposure graph, with the TVL table they were sized from.

    Attributes
    ----------
    nodes
        One row per node: ``node_id`` (prefixed by kind, e.g. ``market:<protocol_id>|<asset_id>``),
        ``kind``, ``label``, ``protocol_id``, ``asset_id``, ``usd`` (size), ``chain_id``,
        ``detail`` and provenance (``source``, ``block_number``, ``timestamp``).
    edges
        One row per ``(src, dst, kind)``: ``usd`` weight, ``chain_id``, ``detail`` and
        provenance.
    protocols
        The ``protocol_tvl`` relation: supplied, collateral, borrowed, pool, PSM and open
        interest USD per protocol, and ``tvl_usd``.
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    protocols: pd.DataFrame

    def to_networkx(self) -> nx.MultiDiGraph:
        """The graph as a networkx multigraph keyed by edge kind.

        Attributes are GraphML- and GEXF-safe: only ``str``, ``int`` and ``float``; a missing
        text is ``''``, a missing number ``0`` (e.g. ``block_number`` of an off-chain row) and
        timestamps are ISO 8601 text.

        Returns
        -------
        networkx.MultiDiGraph
            Nodes keyed by ``node_id`` with the other node columns as attributes; one edge per
            row of :attr:`edges`, keyed by its ``kind`` and carrying every other column.

        Examples
        --------
        >>> from contagion import Dataset
        >>> build_graph(Dataset({})).to_networkx().number_of_nodes()
        0
        """
        graph = nx.MultiDiGraph()
        nodes = _plain_records(self.nodes)
        graph.add_nodes_from((row.pop("node_id"), row) for row in nodes)
        edges = _plain_records(self.edges)
        graph.add_edges_from((row.pop("src"), row.pop("dst"), row["kind"], row) for row in edges)
        return graph

    def write(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the graph as GraphML or GEXF, atomically.

        The file appears complete or not at all: it is written beside ``path`` and renamed
        into place, so a failure leaves neither a partial file nor a temporary one.

        Parameters
        ----------
        path
            File to write; its parent folder is created if needed.
        format
            ``"graphml"`` or ``"gexf"``; by default ``"gexf"`` for a ``.gexf`` suffix and
            ``"graphml"`` otherwise.

        Returns
        -------
        pathlib.Path
            The written file.

        Raises
        ------
        ValueError
            For any other format.

        Examples
        --------
        >>> import tempfile, networkx as nx
        >>> from contagion import Dataset
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     out = build_graph(Dataset({})).write(f"{tmp}/g.graphml")
        ...     nx.read_graphml(out).number_of_edges()
        0
        """
        target = Path(path)
        chosen = format or ("gexf" if target.suffix.lower() == ".gexf" else "graphml")
        if chosen not in _FORMATS:
            raise ValueError(f"unknown graph format {chosen!r}; choose graphml or gexf")
        graph = self.to_networkx()
        with atomic_file(target) as tmp:
            if chosen == "gexf":
                nx.write_gexf(graph, tmp)
            else:
                nx.write_graphml(graph, tmp)
        return target

    def summary(self) -> dict[str, Any]:
        """Counts per node kind, count and USD per edge kind, and TVL per protocol.

        Returns
        -------
        dict
            ``nodes`` and ``edges`` (totals); ``nodes_by_kind`` (kind -> count) and
            ``edges_by_kind`` (kind -> ``{"count", "usd"}``), listing every kind in a fixed
            order, absent ones with zeros; ``tvl``: one dict per protocol, largest TVL first,
            with ``protocol_id``, ``name``, ``kind``, ``tvl_usd``, ``supplied_usd``,
            ``collateral_usd``, ``debt_usd``, ``pool_tvl_usd``, ``psm_reserves_usd``,
            ``open_interest_usd``, ``stablecoin_supply_usd``; sorted by TVL, then open
            interest, then supply. Values are plain Python numbers and text (JSON-ready).

        Examples
        --------
        >>> from contagion import Dataset
        >>> build_graph(Dataset({})).summary()["edges_by_kind"]["backs"]
        {'count': 0, 'usd': 0.0}
        """
        node_counts = self.nodes["kind"].value_counts()
        edge_counts = self.edges["kind"].value_counts()
        edge_usd = self.edges.groupby("kind")["usd"].sum()
        tvl_columns = [
            "protocol_id",
            "name",
            "kind",
            "tvl_usd",
            "supplied_usd",
            "collateral_usd",
            "debt_usd",
            "pool_tvl_usd",
            "psm_reserves_usd",
            "open_interest_usd",
            "stablecoin_supply_usd",
        ]
        tvl = self.protocols[tvl_columns].sort_values(
            ["tvl_usd", "open_interest_usd", "stablecoin_supply_usd", "protocol_id"],
            ascending=[False, False, False, True],
        )
        return {
            "nodes": len(self.nodes),
            "edges": len(self.edges),
            "nodes_by_kind": {k: int(node_counts.get(k, 0)) for k in NODE_KINDS},
            "edges_by_kind": {
                k: {"count": int(edge_counts.get(k, 0)), "usd": float(edge_usd.get(k, 0.0))}
                for k in EDGE_KINDS
            },
            "tvl": _plain_records(tvl),
        }


def build_graph(source: Dataset | Store) -> ExposureGraph:
    """Build the exposure graph of a dataset with DuckDB.

    Positions are aggregated in SQL (``queries/graph_nodes.sql``, ``graph_edges.sql`` and the
    relations they read), never row by row in Python. Borrowers become account clusters,
    one per set of lending protocols owed (see ``queries/cluster_exposure.sql``).

    Parameters
    ----------
    source
        A :class:`~contagion.dataset.Dataset`, or a :class:`~contagion.store.Store` already
        open over one (its connection is reused and left open; the position aggregates are
        kept in it as tables, see :meth:`~contagion.store.Store.materialize`).

    Returns
    -------
    ExposureGraph
        Nodes, edges and the per-protocol TVL table.

    Examples
    --------
    >>> from contagion import Dataset
    >>> graph = build_graph(Dataset({}))
    >>> list(graph.nodes.columns[:3]), len(graph.edges)
    (['node_id', 'kind', 'label'], 0)

    References
    ----------
    Gudgeon, Perez, Harz, Livshits & Gervais (2020), The Decentralized Financial Crisis
    (interconnected lending protocols, shared collateral and oracles).
    """
    store = source if isinstance(source, Store) else Store(source)
    try:
        # Both aggregate every position and are read by several graph relations; computing
        # them once keeps the build linear in positions with a small constant.
        store.materialize(*_POSITION_AGGREGATES)
        nodes = _frame(store.query("graph_nodes"))
        edges = _frame(store.query("graph_edges"))
        protocols = _frame(store.query("protocol_tvl"))
    finally:
        if store is not source:
            store.close()
    return ExposureGraph(
        nodes=nodes[list(NODE_COLUMNS)],
        edges=edges[list(EDGE_COLUMNS)],
        protocols=protocols,
    )


def _frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas keeping integer columns integer when they hold nulls."""
    mapping = {pa.int8(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.int64(): pd.Int64Dtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _plain_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain ``str``/``int``/``float``, nulls as ``''`` or ``0``.

    GraphML and GEXF writers reject ``None`` and NumPy scalars, and one attribute must keep
    one type across all rows, so each column is converted as a whole.
    """
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col):
            columns[name] = [bool(v) for v in col.fillna(False)]
        elif pd.api.types.is_integer_dtype(col):
            columns[name] = [int(v) for v in col.fillna(0)]
        elif pd.api.types.is_float_dtype(col):
            columns[name] = [float(v) for v in col.fillna(0.0)]
        elif pd.api.types.is_datetime64_any_dtype(col):
            columns[name] = [v.isoformat() if not pd.isna(v) else "" for v in col]
        else:
            columns[name] = [str(v) if not pd.isna(v) else "" for v in col]
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
