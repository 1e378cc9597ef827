-- gex_by_strike: dealers' gamma exposure per strike and expiry, USD per 1% move of the underlying
-- grain: one row per derivative venue, underlying, expiry and strike
-- key: protocol_id, underlying_asset_id, expiry, strike
-- param: underlying VARCHAR = *  -- underlying symbol or asset_id; * = every underlying
-- GEX = dealer_sign x gamma x open interest x S^2 x 0.01 (the USD of underlying dealers trade
-- per 1% move; negative: they sell into falls), with Black (1976) gamma at r = 0, Deribit's
-- model: gamma = phi(d1) / (S sigma sqrt(t)), d1 = (ln(S / K) + sigma^2 t / 2) / (sigma sqrt(t)).
-- S is the underlying's market price (assets.price_usd) and t the time from the snapshot (the
-- latest option_series timestamp) to expiry, ACT/365, as the dealers' book computes them
-- (contagion.dealers); expired series hold no gamma.
with snapshot as (
    select max(epoch("timestamp")) as at_s from option_series
),
series as (
    select
        o.protocol_id,
        o.underlying_asset_id,
        a.symbol,
        o.expiry,
        o.strike,
        o.option_type,
        o.open_interest,
        o.mark_iv as sigma,
        o.dealer_sign,
        a.price_usd as spot,
        (epoch(o.expiry) - s.at_s) / (365.0 * 24 * 3600) as t
    from option_series as o
    join assets as a on a.asset_id = o.underlying_asset_id
    cross join snapshot as s
    where $underlying = '*' or a.symbol = $underlying or a.asset_id = $underlying
),
greeks as (
    select
        *,
        case
            when t > 0 and sigma > 0 then
                exp(-0.5 * pow((ln(spot / strike) + 0.5 * sigma * sigma * t) / (sigma * sqrt(t)), 2))
                / sqrt(2 * pi()) / (spot * sigma * sqrt(t))
            else 0.0
        end as gamma
    from series
)
select
    protocol_id,
    underlying_asset_id,
    any_value(symbol) as symbol,
    expiry,
    strike,
    any_value(spot) as spot,
    coalesce(sum(open_interest) filter (where option_type = 'call'), 0) as call_open_interest,
    coalesce(sum(open_interest) filter (where option_type = 'put'), 0) as put_open_interest,
    coalesce(
        sum(dealer_sign * gamma * open_interest * spot * spot * 0.01)
            filter (where option_type = 'call'),
        0
    ) as call_gex_usd,
    coalesce(
        sum(dealer_sign * gamma * open_interest * spot * spot * 0.01)
            filter (where option_type = 'put'),
        0
    ) as put_gex_usd,
    sum(dealer_sign * gamma * open_interest * spot * spot * 0.01) as gex_usd
from greeks
group by protocol_id, underlying_asset_id, expiry, strike
order by protocol_id, underlying_asset_id, expiry, strike
