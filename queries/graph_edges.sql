-- graph_edges: typed, USD-weighted edges of the exposure graph with their provenance
-- grain: one row per source node, target node and edge kind
-- key: src, dst, kind
-- Edge kinds (docs/ARCHITECTURE.md, "Exposure graph"):
--   collateral_in  asset -> market: supplied value counted as collateral
--   debt_in        asset -> market: borrowed value
--   prices_with    feed -> market it prices; source feed -> composite feed (value priced)
--   liquidity_in   asset -> pool: reserve value; pool -> asset: where liquidations of the
--                  asset sell (every pool holding it), weighted by the same reserve
--   receipt_of     issuing protocol -> its wrapper token (visible value); wrapper token ->
--                  market of another protocol taking it as collateral (collateral value)
--   backs          backing asset -> stablecoin: supply x backing share x peg; algorithmic
--                  coins also stablecoin -> governance token (redemptions mint and sell it)
--   hedges_on      derivative venue -> underlying: option + perpetual open interest notional
--   part_of        market, pool or derivative venue -> its protocol (its TVL or OI)
--   exposed_to     account cluster -> protocol it owes: the cluster's debt there
with edges as (
    select
        'asset:' || asset_id as src,
        'market:' || protocol_id || '|' || asset_id as dst,
        'collateral_in' as kind,
        collateral_usd as usd,
        chain_id,
        collateral_positions || ' position(s)' as detail,
        source,
        block_number,
        "timestamp"
    from protocol_markets
    where collateral_usd > 0
    union all
    select
        'asset:' || asset_id,
        'market:' || protocol_id || '|' || asset_id,
        'debt_in',
        debt_usd,
        chain_id,
        debt_positions || ' position(s)',
        source,
        block_number,
        "timestamp"
    from protocol_markets
    where debt_usd > 0
    union all
    select
        'feed:' || u.feed_id,
        'market:' || u.protocol_id || '|' || u.asset_id,
        'prices_with',
        u.priced_usd,
        u.chain_id,
        'read directly',
        o.source,
        o.block_number,
        o."timestamp"
    from feed_usage as u
    join oracle_usage as o on o.protocol_id = u.protocol_id and o.asset_id = u.asset_id
    where u.direct
    union all
    select
        'feed:' || c.source_feed_id,
        'feed:' || c.feed_id,
        'prices_with',
        coalesce(v.priced_usd, 0),
        f.chain_id,
        'component of composite',
        f.source,
        f.block_number,
        f."timestamp"
    from (
        select distinct feed_id, unnest(source_feed_ids) as source_feed_id
        from oracle_feeds
    ) as c
    join oracle_feeds as f on f.feed_id = c.feed_id
    left join (
        select feed_id, sum(priced_usd) as priced_usd
        from feed_usage
        group by feed_id
    ) as v on v.feed_id = c.feed_id
    union all
    select
        'asset:' || asset_id,
        'pool:' || pool_id,
        'liquidity_in',
        reserve_usd,
        chain_id,
        'reserve',
        source,
        block_number,
        "timestamp"
    from pool_reserves
    union all
    select
        'pool:' || pool_id,
        'asset:' || asset_id,
        'liquidity_in',
        reserve_usd,
        chain_id,
        'liquidation sell route',
        source,
        block_number,
        "timestamp"
    from pool_reserves
    union all
    select
        'protocol:' || w.protocol_id,
        'asset:' || w.asset_id,
        'receipt_of',
        coalesce(s.supply_usd, 0),
        w.chain_id,
        w.kind,
        w.source,
        w.block_number,
        w."timestamp"
    from wrappers as w
    left join asset_supply as s on s.asset_id = w.asset_id
    union all
    select
        'asset:' || w.asset_id,
        'market:' || m.protocol_id || '|' || m.asset_id,
        'receipt_of',
        m.collateral_usd,
        m.chain_id,
        w.kind || ' taken as collateral',
        m.source,
        m.block_number,
        m."timestamp"
    from wrappers as w
    join protocol_markets as m on m.asset_id = w.asset_id and m.protocol_id <> w.protocol_id
    where m.collateral_usd > 0
    union all
    select
        'asset:' || backing_asset_id,
        'asset:' || asset_id,
        'backs',
        supply * backing_share * peg_usd,
        chain_id,
        mechanism,
        source,
        block_number,
        "timestamp"
    from stablecoins
    union all
    select
        'asset:' || asset_id,
        'asset:' || backing_asset_id,
        'backs',
        supply * backing_share * peg_usd,
        chain_id,
        'algorithmic redemption',
        source,
        block_number,
        "timestamp"
    from stablecoins
    where mechanism = 'algorithmic'
    union all
    select
        'venue:' || protocol_id,
        'asset:' || underlying_asset_id,
        'hedges_on',
        open_interest_usd,
        chain_id,
        option_series || ' option series, ' || perp_buckets || ' perpetual buckets',
        source,
        block_number,
        "timestamp"
    from derivative_open_interest
    union all
    select
        'market:' || protocol_id || '|' || asset_id,
        'protocol:' || protocol_id,
        'part_of',
        supplied_usd,
        chain_id,
        'market',
        source,
        block_number,
        "timestamp"
    from protocol_markets
    union all
    select
        'pool:' || p.pool_id,
        'protocol:' || p.protocol_id,
        'part_of',
        coalesce(r.tvl_usd, 0),
        p.chain_id,
        'pool',
        p.source,
        p.block_number,
        p."timestamp"
    from pools as p
    left join (
        select pool_id, sum(reserve_usd) as tvl_usd from pool_reserves group by pool_id
    ) as r on r.pool_id = p.pool_id
    union all
    select
        'venue:' || protocol_id,
        'protocol:' || protocol_id,
        'part_of',
        sum(open_interest_usd),
        min(chain_id),
        'derivative venue',
        string_agg(distinct source, ',' order by source),
        max(block_number),
        max("timestamp")
    from derivative_open_interest
    group by protocol_id
    union all
    select
        'cluster:' || cluster,
        'protocol:' || protocol_id,
        'exposed_to',
        debt_usd,
        chain_id,
        accounts || ' account(s)',
        source,
        block_number,
        "timestamp"
    from cluster_exposure
)
-- One row per (src, dst, kind) even if the data repeats a link (e.g. a feed listed twice as a
-- component), so the key holds and a multigraph keyed by kind loses nothing.
select
    src,
    dst,
    kind,
    sum(usd) as usd,
    min(chain_id) as chain_id,
    string_agg(distinct detail, '; ' order by detail) as detail,
    string_agg(distinct source, ',' order by source) as source,
    max(block_number) as block_number,
    max("timestamp") as "timestamp"
from edges
group by src, dst, kind
order by kind, src, dst
