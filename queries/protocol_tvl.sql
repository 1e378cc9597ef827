-- protocol_tvl: value locked in, borrowed from, issued by and open on every protocol, in USD
-- grain: one row per protocol
-- key: protocol_id
-- tvl_usd = lending supply + pool reserves + PSM reserves. Lending supply is gross (DefiLlama's
-- default subtracts borrows); open interest and stablecoin supply are shown beside it but not
-- added, being claims rather than locked deposits. Fiat and CDP backing are not counted: the
-- first is off chain, the second is already lending supply where CDP positions are indexed.
with lending as (
    select
        protocol_id,
        sum(supplied_usd) as supplied_usd,
        sum(collateral_usd) as collateral_usd,
        sum(debt_usd) as debt_usd
    from protocol_markets
    group by protocol_id
),
amm as (
    select protocol_id, sum(reserve_usd) as pool_tvl_usd
    from pool_reserves
    group by protocol_id
),
derivatives as (
    select protocol_id, sum(open_interest_usd) as open_interest_usd
    from derivative_open_interest
    group by protocol_id
),
issued as (
    -- supply and peg repeat on every backing row of a stablecoin: take them once per coin.
    select
        protocol_id,
        asset_id,
        max(supply * peg_usd) as supply_usd,
        sum(supply * backing_share * peg_usd) filter (where mechanism = 'psm') as psm_reserves_usd
    from stablecoins
    group by protocol_id, asset_id
),
stable as (
    select
        protocol_id,
        sum(supply_usd) as stablecoin_supply_usd,
        coalesce(sum(psm_reserves_usd), 0) as psm_reserves_usd
    from issued
    group by protocol_id
)
select
    p.protocol_id,
    p.name,
    p.kind,
    p.family,
    p.chain_id,
    coalesce(l.supplied_usd, 0) as supplied_usd,
    coalesce(l.collateral_usd, 0) as collateral_usd,
    coalesce(l.debt_usd, 0) as debt_usd,
    coalesce(a.pool_tvl_usd, 0) as pool_tvl_usd,
    coalesce(s.psm_reserves_usd, 0) as psm_reserves_usd,
    coalesce(d.open_interest_usd, 0) as open_interest_usd,
    coalesce(s.stablecoin_supply_usd, 0) as stablecoin_supply_usd,
    coalesce(l.supplied_usd, 0) + coalesce(a.pool_tvl_usd, 0) + coalesce(s.psm_reserves_usd, 0)
        as tvl_usd,
    p.source,
    p.block_number,
    p."timestamp"
from protocols as p
left join lending as l on l.protocol_id = p.protocol_id
left join amm as a on a.protocol_id = p.protocol_id
left join derivatives as d on d.protocol_id = p.protocol_id
left join stable as s on s.protocol_id = p.protocol_id
