-- position_values: lending positions with supplied and borrowed amounts valued in USD
-- grain: one row per account, protocol and asset
-- key: protocol_id, account, asset_id
-- Valued at the assets' market price (assets.price_usd), not at a protocol's oracle price: the
-- graph sizes exposures; health checks against oracle prices belong to the solver.
-- collateral_usd is the whole supplied value; used_as_collateral says whether it backs debt.
select
    p.chain_id,
    p.account,
    p.protocol_id,
    p.asset_id,
    a.symbol,
    p.collateral_amount,
    p.debt_amount,
    p.collateral_amount * a.price_usd as collateral_usd,
    p.debt_amount * a.price_usd as debt_usd,
    p.used_as_collateral,
    p.emode_category,
    p.source,
    p.block_number,
    p."timestamp"
from lending_positions as p
join asset_prices as a on a.asset_id = p.asset_id
