-- pool_reserves: every token held by an AMM pool, with its reserve valued in USD
-- grain: one row per pool and token
-- key: pool_id, token_index
with tokens as (
    -- Unnesting the parallel lists in one select zips them; a short reserves list pads
    -- with null, counted as an empty reserve below.
    select
        pool_id,
        chain_id,
        protocol_id,
        kind as pool_kind,
        unnest(token_asset_ids) as asset_id,
        unnest(reserves) as reserve,
        unnest(generate_series(1, len(token_asset_ids))) as token_index,
        source,
        block_number,
        "timestamp"
    from pools
)
select
    t.pool_id,
    t.token_index,
    t.chain_id,
    t.protocol_id,
    t.pool_kind,
    t.asset_id,
    a.symbol,
    coalesce(t.reserve, 0) as reserve,
    coalesce(t.reserve * a.price_usd, 0) as reserve_usd,
    t.source,
    t.block_number,
    t."timestamp"
from tokens as t
left join asset_prices as a on a.asset_id = t.asset_id
where t.asset_id is not null
