-- graph_nodes: nodes of the exposure graph, one kind per layer, each with a USD size
-- grain: one row per node
-- key: node_id
-- Ids are prefixed by kind (protocol:, market:<protocol_id>|<asset_id>, asset:, feed:, pool:,
-- venue:, cluster:) so that one id space holds every layer. usd sizes the node: TVL for a
-- protocol, market or pool; price x supply for an asset (see asset_supply); for a feed, the
-- value whose health reads it (directly or through composites); option and perpetual open
-- interest for a derivative venue; debt for an account cluster.
with feed_value as (
    select feed_id, sum(priced_usd) as priced_usd, count(distinct protocol_id) as protocols
    from feed_usage
    group by feed_id
),
pool_value as (
    select pool_id, sum(reserve_usd) as tvl_usd, string_agg(symbol, '/' order by token_index) as pair
    from pool_reserves
    group by pool_id
),
tick_count as (
    select pool_id, count(*) as ticks
    from pool_ticks
    group by pool_id
),
venue as (
    select
        protocol_id,
        min(chain_id) as chain_id,
        sum(open_interest_usd) as open_interest_usd,
        sum(option_series) as option_series,
        sum(perp_buckets) as perp_buckets,
        string_agg(distinct source, ',' order by source) as source,
        max(block_number) as block_number,
        max("timestamp") as "timestamp"
    from derivative_open_interest
    group by protocol_id
),
clusters as (
    select
        cluster,
        any_value(protocol_count) as protocol_count,
        case when count(distinct chain_id) = 1 then min(chain_id) end as chain_id,
        case when any_value(protocol_count) = 1 then min(protocol_id) end as protocol_id,
        -- Every protocol row of a cluster counts the same accounts once each.
        max(accounts) as accounts,
        sum(debt_usd) as debt_usd,
        string_agg(distinct source, ',' order by source) as source,
        max(block_number) as block_number,
        max("timestamp") as "timestamp"
    from cluster_exposure
    group by cluster
)
select
    'protocol:' || protocol_id as node_id,
    'protocol' as kind,
    name as label,
    protocol_id,
    null::varchar as asset_id,
    tvl_usd as usd,
    chain_id,
    kind || ' (' || family || ')' as detail,
    source,
    block_number,
    "timestamp"
from protocol_tvl
union all
select
    'market:' || protocol_id || '|' || asset_id,
    'market',
    label,
    protocol_id,
    asset_id,
    supplied_usd,
    chain_id,
    role,
    source,
    block_number,
    "timestamp"
from protocol_markets
union all
select
    'asset:' || a.asset_id,
    'asset',
    a.symbol,
    s.issuer_protocol_id,
    a.asset_id,
    s.supply_usd,
    a.chain_id,
    a.asset_kind,
    a.source,
    a.block_number,
    a."timestamp"
from asset_prices as a
join asset_supply as s on s.asset_id = a.asset_id
union all
select
    'feed:' || f.feed_id,
    'oracle_feed',
    f.description,
    null,
    f.base_asset_id,
    coalesce(v.priced_usd, 0),
    f.chain_id,
    f.kind || ', read by ' || coalesce(v.protocols, 0) || ' protocol(s)',
    f.source,
    f.block_number,
    f."timestamp"
from oracle_feeds as f
left join feed_value as v on v.feed_id = f.feed_id
union all
select
    'pool:' || p.pool_id,
    'pool',
    coalesce(v.pair, p.pool_id),
    p.protocol_id,
    null,
    coalesce(v.tvl_usd, 0),
    p.chain_id,
    p.kind || coalesce(', ' || t.ticks || ' initialized ticks', ''),
    p.source,
    p.block_number,
    p."timestamp"
from pools as p
left join pool_value as v on v.pool_id = p.pool_id
left join tick_count as t on t.pool_id = p.pool_id
union all
select
    'venue:' || v.protocol_id,
    'derivative_venue',
    coalesce(p.name, v.protocol_id),
    v.protocol_id,
    null,
    v.open_interest_usd,
    v.chain_id,
    v.option_series || ' option series, ' || v.perp_buckets || ' perpetual buckets',
    v.source,
    v.block_number,
    v."timestamp"
from venue as v
left join protocols as p on p.protocol_id = v.protocol_id
union all
select
    'cluster:' || cluster,
    'account_cluster',
    cluster,
    protocol_id,
    null,
    debt_usd,
    chain_id,
    accounts || ' account(s) owing ' || protocol_count || ' protocol(s)',
    source,
    block_number,
    "timestamp"
from clusters
order by kind, node_id
