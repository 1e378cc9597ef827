-- protocol_exposures: value one protocol holds in tokens another protocol issued, a balance-sheet link
-- grain: one row per holding protocol, issuing protocol, token and channel
-- key: holder_protocol_id, issuer_protocol_id, asset_id, channel
-- A token's issuers are the protocol of its wrapper row (receipt, LST, LP or vault token) or the
-- issuers of a stablecoin, sharing it by backing share. channel 'collateral': the token is
-- collateral in the holder's lending markets (position_weights, value counted as collateral);
-- channel 'backing': it backs a stablecoin the holder issues (supply x backing share x peg). If
-- the issuer fails, the holder loses up to usd: the exposure matrix of protocol DebtRank.
with issued as (
    select asset_id, protocol_id, 1.0 as share from wrappers
    union all
    select
        asset_id,
        protocol_id,
        backing_share / nullif(sum(backing_share) over (partition by asset_id), 0)
    from stablecoins
),
issuers as (
    select asset_id, protocol_id, sum(share) as share
    from issued
    group by asset_id, protocol_id
),
held as (
    select protocol_id as holder_protocol_id, asset_id, 'collateral' as channel,
        sum(collateral_usd) as usd
    from position_weights
    where collateral_usd > 0
    group by protocol_id, asset_id
    union all
    select protocol_id, backing_asset_id, 'backing', sum(supply * backing_share * peg_usd)
    from stablecoins
    group by protocol_id, backing_asset_id
)
select
    h.holder_protocol_id,
    i.protocol_id as issuer_protocol_id,
    h.asset_id,
    a.symbol,
    h.channel,
    h.usd * i.share as usd
from held as h
join issuers as i on i.asset_id = h.asset_id
left join assets as a on a.asset_id = h.asset_id
where i.protocol_id <> h.holder_protocol_id and h.usd * i.share > 0
order by usd desc, h.holder_protocol_id, i.protocol_id, h.asset_id, h.channel
