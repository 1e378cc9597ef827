-- position_weights: lending positions with the weight their collateral counts with for health
-- grain: one row per account, protocol and asset
-- key: protocol_id, account, asset_id
-- health_weight is the factor of the family's liquidation rule: Aave v3's liquidation
-- threshold (the e-mode threshold when the account's e-mode category is the market's),
-- Compound III's liquidateCollateralFactor, a CDP's 1 / liquidation ratio; 0 for supply not
-- used as collateral, which collateral_usd leaves out too. A book (account x protocol) is
-- liquidatable when its summed liquidation_value_usd is below its summed debt_usd: Aave's
-- health factor below 1, Comet's isLiquidatable, Maker's unsafe vault (the rule of
-- contagion.world.LendingBook.health_weight). Values are at market prices (position_values),
-- not at each protocol's oracle price.
with weighted as (
    select
        p.chain_id,
        p.account,
        p.protocol_id,
        p.asset_id,
        p.symbol,
        p.collateral_amount,
        p.debt_amount,
        case when p.used_as_collateral then p.collateral_usd else 0 end as collateral_usd,
        p.debt_usd,
        m.family,
        coalesce(
            case
                when not p.used_as_collateral then 0
                when m.family = 'aave-v3' then
                    case
                        when p.emode_category > 0 and m.emode_category = p.emode_category
                            then m.emode_liquidation_threshold
                        else m.liquidation_threshold
                    end
                when m.family = 'compound-v3' then m.liquidate_cf
                when m.family = 'cdp' then 1.0 / nullif(m.liquidation_ratio, 0)
            end,
            0
        ) as health_weight
    from position_values as p
    left join lending_markets as m on m.protocol_id = p.protocol_id and m.asset_id = p.asset_id
)
select
    w.chain_id,
    w.account,
    w.protocol_id,
    w.asset_id,
    w.symbol,
    r.root_asset_id,
    w.collateral_amount,
    w.debt_amount,
    w.collateral_usd,
    w.debt_usd,
    w.family,
    w.health_weight,
    w.collateral_usd * w.health_weight as liquidation_value_usd
from weighted as w
left join price_roots as r on r.asset_id = w.asset_id
