-- largest_positions: the accounts owing the most in one lending protocol, with their collateral
-- grain: one row per account and protocol, largest debt first
-- key: account, protocol_id
-- param: limit BIGINT = 20  -- how many positions to return
-- param: max_distance DOUBLE = 1  -- only books this close to liquidation (0.1 = within a 10% fall); 1 = every book
-- A position is an account's whole book in one protocol (health is computed per account, not
-- per asset). loan_to_value is debt over collateral counted as such, null without collateral.
-- health_factor and distance_to_liquidation come from loan_health (the fall of collateral
-- prices that makes the book liquidatable; null without debt, left out by a max_distance
-- below 1).
with books as (
    select
        account,
        protocol_id,
        min(chain_id) as chain_id,
        sum(collateral_usd) as supplied_usd,
        coalesce(sum(collateral_usd) filter (where used_as_collateral), 0) as collateral_usd,
        sum(debt_usd) as debt_usd,
        string_agg(symbol, ',' order by symbol) filter (where collateral_amount > 0)
            as supplied_assets,
        string_agg(symbol, ',' order by symbol) filter (where debt_amount > 0) as debt_assets,
        max(block_number) as block_number
    from position_values
    group by account, protocol_id
)
select
    b.account,
    b.protocol_id,
    b.chain_id,
    b.supplied_usd,
    b.collateral_usd,
    b.debt_usd,
    b.debt_usd / nullif(b.collateral_usd, 0) as loan_to_value,
    coalesce(b.supplied_assets, '') as supplied_assets,
    coalesce(b.debt_assets, '') as debt_assets,
    h.health_factor,
    h.distance_to_liquidation,
    b.block_number
from books as b
join loan_health as h on h.account = b.account and h.protocol_id = b.protocol_id
where $max_distance >= 1 or h.distance_to_liquidation <= $max_distance
order by b.debt_usd desc, b.collateral_usd desc, b.account, b.protocol_id
limit $limit
