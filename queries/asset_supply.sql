-- asset_supply: the supply of every asset the graph sizes it by, in tokens and USD
-- grain: one row per asset
-- key: asset_id
-- A stablecoin's supply is its issuer's total supply (stablecoins.supply). Other tokens have
-- no total supply in the dataset, so they are sized by what is visible in it: tokens supplied
-- to lending markets plus tokens held by pools.
with visible as (
    select asset_id, sum(amount) as amount
    from (
        select asset_id, supplied_amount as amount from protocol_markets
        union all
        select asset_id, reserve as amount from pool_reserves
    )
    group by asset_id
),
issued as (
    select asset_id, max(supply) as supply, min(protocol_id) as protocol_id
    from stablecoins
    group by asset_id
)
select
    a.asset_id,
    coalesce(w.protocol_id, i.protocol_id) as issuer_protocol_id,
    i.supply is not null as is_issued_supply,
    coalesce(i.supply, v.amount, 0) as supply,
    coalesce(i.supply, v.amount, 0) * a.price_usd as supply_usd
from asset_prices as a
left join visible as v on v.asset_id = a.asset_id
left join issued as i on i.asset_id = a.asset_id
left join wrappers as w on w.asset_id = a.asset_id
