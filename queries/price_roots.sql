-- price_roots: the asset whose market sets each asset's price, and the rate converting to it
-- grain: one row per asset
-- key: asset_id
-- A vault or receipt token (WETH, WBTC, aEthWETH, sDAI) and a staking wrapper of a staking
-- token (wstETH over stETH) redeem for their underlying at the wrapper's exchange rate, so
-- they move with its market: a shock to the root moves every asset rooted in it. Other tokens
-- (stETH, cbETH, rETH, stablecoins) have a market of their own. This is the rule of the
-- solver's asset index (contagion.world), so a ladder and a propagated shock move the same
-- assets. rate is root tokens per token; hops counts the wrappers walked.
with recursive convertible as (
    select w.asset_id, w.underlying_asset_id, w.exchange_rate
    from wrappers as w
    left join wrappers as u on u.asset_id = w.underlying_asset_id
    where w.kind in ('vault', 'receipt') or (w.kind = 'lst' and u.kind = 'lst')
),
walk(asset_id, root_asset_id, rate, hops) as (
    select asset_id, asset_id, 1.0::double, 0 from assets
    union all
    select w.asset_id, c.underlying_asset_id, w.rate * c.exchange_rate, w.hops + 1
    from walk as w
    join convertible as c on c.asset_id = w.root_asset_id
    -- A cycle of wrappers is rejected by the solver; here it just stops walking.
    where w.hops < 16
),
deepest as (
    select asset_id, arg_max(root_asset_id, hops) as root_asset_id, max(hops) as hops,
        arg_max(rate, hops) as rate
    from walk
    group by asset_id
)
select
    d.asset_id,
    a.symbol,
    d.root_asset_id,
    r.symbol as root_symbol,
    d.rate,
    d.hops
from deepest as d
join assets as a on a.asset_id = d.asset_id
left join assets as r on r.asset_id = d.root_asset_id
