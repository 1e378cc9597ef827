-- loan_health: every account's book in one lending protocol with its health and distance to liquidation
-- grain: one row per account and protocol
-- key: account, protocol_id
-- health_factor = liquidation value / debt (position_weights; null without debt): below 1 the
-- book is liquidatable. distance_to_liquidation = 1 - debt / liquidation value is the fall of
-- every collateral price, debt prices unchanged, that brings the book to the threshold (0 for a
-- book already liquidatable, null without debt).
select
    account,
    protocol_id,
    min(chain_id) as chain_id,
    sum(collateral_usd) as collateral_usd,
    sum(liquidation_value_usd) as liquidation_value_usd,
    sum(debt_usd) as debt_usd,
    sum(liquidation_value_usd) / nullif(sum(debt_usd), 0) as health_factor,
    case
        when sum(debt_usd) <= 0 then null
        when sum(liquidation_value_usd) <= sum(debt_usd) then 0.0
        else 1.0 - sum(debt_usd) / sum(liquidation_value_usd)
    end as distance_to_liquidation
from position_weights
group by account, protocol_id
