-- derivative_open_interest: option and perpetual open interest per venue and underlying, in USD
-- grain: one row per derivative venue and underlying asset
-- key: protocol_id, underlying_asset_id
-- Option notional uses each series' underlying (forward) price; perpetual notional uses the
-- underlying's market price, since buckets carry only liquidation prices.
with options as (
    select
        protocol_id,
        underlying_asset_id,
        min(chain_id) as chain_id,
        count(*) as option_series,
        sum(open_interest * underlying_price) as options_oi_usd,
        string_agg(distinct source, ',' order by source) as source,
        max(block_number) as block_number,
        max("timestamp") as "timestamp"
    from option_series
    group by protocol_id, underlying_asset_id
),
perps as (
    select
        p.protocol_id,
        p.underlying_asset_id,
        min(p.chain_id) as chain_id,
        count(*) as perp_buckets,
        coalesce(sum(p.open_interest * a.price_usd), 0) as perps_oi_usd,
        string_agg(distinct p.source, ',' order by p.source) as source,
        max(p.block_number) as block_number,
        max(p."timestamp") as "timestamp"
    from perp_markets as p
    left join asset_prices as a on a.asset_id = p.underlying_asset_id
    group by p.protocol_id, p.underlying_asset_id
)
select
    coalesce(o.protocol_id, p.protocol_id) as protocol_id,
    coalesce(o.underlying_asset_id, p.underlying_asset_id) as underlying_asset_id,
    coalesce(o.chain_id, p.chain_id) as chain_id,
    coalesce(o.option_series, 0) as option_series,
    coalesce(p.perp_buckets, 0) as perp_buckets,
    coalesce(o.options_oi_usd, 0) as options_oi_usd,
    coalesce(p.perps_oi_usd, 0) as perps_oi_usd,
    coalesce(o.options_oi_usd, 0) + coalesce(p.perps_oi_usd, 0) as open_interest_usd,
    case
        when o.source is null then p.source
        when p.source is null or p.source = o.source then o.source
        else o.source || ',' || p.source
    end as source,
    greatest(o.block_number, p.block_number) as block_number,
    greatest(o."timestamp", p."timestamp") as "timestamp"
from options as o
full outer join perps as p
    on p.protocol_id = o.protocol_id and p.underlying_asset_id = o.underlying_asset_id
