-- protocol_markets: every (protocol, asset) market of the graph with its USD totals
-- grain: one row per protocol and asset
-- key: protocol_id, asset_id
-- A market exists where lending_markets lists it, where positions are held in it, or where a
-- protocol reads a feed for the asset (oracle_usage), so every prices_with edge has a target.
with keys as (
    select protocol_id, asset_id from lending_markets
    union
    select protocol_id, asset_id from market_totals
    union
    select protocol_id, asset_id from oracle_usage
)
select
    k.protocol_id,
    k.asset_id,
    coalesce(m.chain_id, t.chain_id, u.chain_id) as chain_id,
    coalesce(m.market_id, k.protocol_id || '/' || a.symbol) as label,
    coalesce(m.role, '') as role,
    coalesce(t.supplied_amount, 0) as supplied_amount,
    coalesce(t.supplied_usd, 0) as supplied_usd,
    coalesce(t.collateral_usd, 0) as collateral_usd,
    coalesce(t.debt_usd, 0) as debt_usd,
    coalesce(t.collateral_positions, 0) as collateral_positions,
    coalesce(t.debt_positions, 0) as debt_positions,
    coalesce(m.source, t.source, u.source) as source,
    coalesce(t.block_number, m.block_number, u.block_number) as block_number,
    coalesce(t."timestamp", m."timestamp", u."timestamp") as "timestamp"
from keys as k
left join lending_markets as m on m.protocol_id = k.protocol_id and m.asset_id = k.asset_id
left join market_totals as t on t.protocol_id = k.protocol_id and t.asset_id = k.asset_id
left join oracle_usage as u on u.protocol_id = k.protocol_id and u.asset_id = k.asset_id
left join asset_prices as a on a.asset_id = k.asset_id
