"""Chainlink price feeds: latestRoundData, decimals, description; heartbeat and deviation
threshold joined from Chainlink's published feed list.

A feed read here becomes an ``oracle_feeds`` row of kind ``chainlink`` when the published
list (``contagion/data/chainlink-feeds-ethereum-mainnet.json``, or one given by the caller)
holds its proxy address with a heartbeat and a deviation threshold; a source that is not in
the list (a protocol's own adapter, a fixed-price contract, a feed on another chain) has no
known trigger parameters and is stored as kind ``market``, i.e. assumed to follow the
market, which the row's ``source`` says.

Reference: Chainlink Data Feeds, "Check the latest answer" and "Decentralized data model"
(AggregatorV3Interface.latestRoundData; deviation threshold and heartbeat triggers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from indexers.abi import load_abi
from indexers.base import IndexContext, Meta, chains_rows
from indexers.errors import IndexerError
from indexers.rpc.multicall import Call
from indexers.sample_world.common import asset_id, rows_table
from indexers.sample_world.reference import ChainlinkFeed, load_reference
from indexers.tokens import Token, asset_row, decode_all, read_tokens, uint

__all__ = [
    "CHAINLINK_PROTOCOL",
    "FeedRead",
    "feed_rows",
    "index_chainlink",
    "published_feeds",
    "read_feeds",
]

CHAINLINK_PROTOCOL = "chainlink"
_AGG = load_abi("chainlink_aggregator")


@dataclass(frozen=True)
class FeedRead:
    """A feed as read at the run's block."""

    address: str
    description: str
    decimals: int
    round_id: int
    answer: int
    updated_at: int


def published_feeds() -> dict[str, ChainlinkFeed]:
    """Chainlink's published Ethereum feed list by lower-case proxy address."""
    return load_reference().chainlink


def read_feeds(ctx: IndexContext, addresses: Iterable[str]) -> dict[str, FeedRead]:
    """latestRoundData, decimals and description of each feed, by lower-case address."""
    unique = sorted({a.lower() for a in addresses})
    fns = [_AGG.fn(n) for n in ("latestRoundData", "decimals", "description")]
    out = ctx.read("feeds", [Call(a, f.encode()) for a in unique for f in fns])
    feeds: dict[str, FeedRead] = {}
    for i, a in enumerate(unique):
        rd, dec, desc = out[3 * i : 3 * i + 3]
        round_id, answer, _, updated, _ = decode_all(
            fns[0].outputs, rd, f"latestRoundData() of feed {a}"
        )
        description = decode_all(["string"], desc, f"description() of feed {a}")[0]
        feeds[a] = FeedRead(
            a,
            str(description),
            uint(dec, f"decimals() of feed {a}"),
            int(round_id),
            int(answer),
            int(updated),
        )
    return feeds


def feed_rows(
    meta: Meta,
    feeds: Mapping[str, FeedRead],
    base_asset: Mapping[str, str],
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> list[dict[str, Any]]:
    """``oracle_feeds`` rows; ``base_asset`` maps feed address to the token it prices."""
    listed = published_feeds() if published is None else published
    rows = []
    for address, f in sorted(feeds.items()):
        if f.answer <= 0:
            raise IndexerError(
                f"feed {address} ({f.description!r}) answers {f.answer}, not a price"
            )
        entry = listed.get(address)
        rows.append(
            meta.row(
                feed_id=asset_id(address, meta.chain_id),
                address=address,
                description=f.description,
                kind="chainlink" if entry is not None else "market",
                protocol_id=CHAINLINK_PROTOCOL if entry is not None else None,
                base_asset_id=asset_id(base_asset[address], meta.chain_id),
                quote="USD",
                decimals=f.decimals,
                heartbeat_s=entry.heartbeat_s if entry else None,
                deviation_bps=entry.deviation_bps if entry else None,
                twap_window_s=None,
                delay_s=None,
                source_feed_ids=[],
                answer_raw=str(f.answer),
                answer=f.answer / 10**f.decimals,
            )
        )
    return rows


def chainlink_protocol_row(meta: Meta) -> dict[str, Any]:
    return meta.row(
        protocol_id=CHAINLINK_PROTOCOL,
        name="Chainlink",
        kind="oracle",
        family="chainlink",
        address=None,
    )


def index_chainlink(
    ctx: IndexContext,
    *,
    feeds: Mapping[str, str],
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> dict[str, pa.Table]:
    """Index Chainlink feeds: ``feeds`` maps each proxy address to the token it prices.

    The token is priced at the feed's answer (a USD feed); it gets an ``assets`` row too, so
    the feeds can be written to an empty dataset.
    """
    if not feeds:
        raise IndexerError("chainlink: no feeds given (pass --feed FEED_ADDRESS=TOKEN_ADDRESS)")
    meta = ctx.meta("chainlink")
    wanted = {k.lower(): v.lower() for k, v in feeds.items()}
    reads = read_feeds(ctx, wanted)
    tokens: dict[str, Token] = read_tokens(ctx, wanted.values())
    return transform_chainlink(meta, reads, wanted, tokens, published)


def transform_chainlink(
    meta: Meta,
    reads: Mapping[str, FeedRead],
    base_asset: Mapping[str, str],
    tokens: Mapping[str, Token],
    published: Mapping[str, ChainlinkFeed] | None = None,
) -> dict[str, pa.Table]:
    """Pure part of :func:`index_chainlink`."""
    rows = feed_rows(meta, reads, base_asset, published)
    price = {base_asset[a]: r.answer / 10**r.decimals for a, r in reads.items()}
    assets = [asset_row(meta, tokens[t], price[t]) for t in sorted(price)]
    return {
        "chains": chains_rows(meta),
        "protocols": rows_table("protocols", [chainlink_protocol_row(meta)]),
        "assets": rows_table("assets", assets),
        "oracle_feeds": rows_table("oracle_feeds", rows),
    }
