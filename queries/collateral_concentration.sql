-- collateral_concentration: how concentrated each lending protocol's collateral is, by asset and by account
-- grain: one row per lending protocol and collateral asset
-- key: protocol_id, asset_id
-- param: top_accounts BIGINT = 10  -- how many of the largest accounts top_accounts_share counts
-- Only supply counted as collateral (position_weights). share is the asset's part of the
-- protocol's collateral; protocol_hhi is the Herfindahl-Hirschman index of those shares (sum of
-- squared shares: 1 = a single asset, 1/n = n equal assets), repeated on each of its rows;
-- top_accounts_share is the part of the asset's collateral held by its top_accounts largest
-- accounts in the protocol; account_hhi is the HHI across those accounts' holdings.
with held as (
    select protocol_id, asset_id, account, any_value(symbol) as symbol, sum(collateral_usd) as usd
    from position_weights
    where collateral_usd > 0
    group by protocol_id, asset_id, account
),
ranked as (
    select
        *,
        row_number() over (partition by protocol_id, asset_id order by usd desc, account) as rank,
        usd / sum(usd) over (partition by protocol_id, asset_id) as account_share
    from held
),
markets as (
    select
        protocol_id,
        asset_id,
        any_value(symbol) as symbol,
        count(*) as accounts,
        sum(usd) as collateral_usd,
        sum(usd) filter (where rank <= $top_accounts) as top_usd,
        sum(account_share * account_share) as account_hhi
    from ranked
    group by protocol_id, asset_id
),
shared as (
    select
        *,
        collateral_usd / sum(collateral_usd) over (partition by protocol_id) as share
    from markets
)
select
    protocol_id,
    asset_id,
    symbol,
    accounts,
    collateral_usd,
    share,
    sum(share * share) over (partition by protocol_id) as protocol_hhi,
    coalesce(top_usd, 0) / collateral_usd as top_accounts_share,
    account_hhi
from shared
order by protocol_id, collateral_usd desc, asset_id
