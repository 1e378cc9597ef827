-- market_totals: supplied, collateral and borrowed USD of every lending market with positions
-- grain: one row per protocol and asset
-- key: protocol_id, asset_id
select
    protocol_id,
    asset_id,
    min(chain_id) as chain_id,
    sum(collateral_amount) as supplied_amount,
    sum(collateral_usd) as supplied_usd,
    coalesce(sum(collateral_usd) filter (where used_as_collateral), 0) as collateral_usd,
    sum(debt_usd) as debt_usd,
    count(*) filter (where used_as_collateral and collateral_amount > 0) as collateral_positions,
    count(*) filter (where debt_amount > 0) as debt_positions,
    string_agg(distinct source, ',' order by source) as source,
    max(block_number) as block_number,
    max("timestamp") as "timestamp"
from position_values
group by protocol_id, asset_id
