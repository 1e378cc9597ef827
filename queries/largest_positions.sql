-- largest_positions: the accounts owing the most in one lending protocol, with their collateral
-- grain: one row per account and protocol, largest debt first
-- key: account, protocol_id
-- param: limit BIGINT = 20  -- how many positions to return
-- A position is an account's whole book in one protocol (health is computed per account, not
-- per asset). loan_to_value is debt over collateral counted as such, null without collateral.
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
    account,
    protocol_id,
    chain_id,
    supplied_usd,
    collateral_usd,
    debt_usd,
    debt_usd / nullif(collateral_usd, 0) as loan_to_value,
    coalesce(supplied_assets, '') as supplied_assets,
    coalesce(debt_assets, '') as debt_assets,
    block_number
from books
order by debt_usd desc, collateral_usd desc, account, protocol_id
limit $limit
