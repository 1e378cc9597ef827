-- shared_oracles: oracle feeds that several protocols' prices depend on, a common point of failure
-- grain: one row per feed read (directly or through a composite) by enough protocols
-- key: feed_id
-- param: min_protocols BIGINT = 2  -- least number of distinct protocols depending on the feed
-- A group is the set of markets whose prices fail together when the feed does: symbols lists
-- the assets they price, and share is the group's part of all value priced by any feed
-- (collateral + debt of the markets with a feed, counted once).
select
    f.feed_id,
    f.description,
    f.kind,
    count(distinct u.protocol_id) as protocols,
    string_agg(distinct u.protocol_id, ',' order by u.protocol_id) as protocol_ids,
    count(*) as markets,
    count(*) filter (where not u.direct) as markets_via_composite,
    string_agg(distinct a.symbol, ',' order by a.symbol) as symbols,
    sum(u.priced_usd) as priced_usd,
    sum(u.priced_usd) / nullif(
        (select sum(m.collateral_usd + m.debt_usd)
         from protocol_markets as m
         semi join oracle_usage as o on o.protocol_id = m.protocol_id and o.asset_id = m.asset_id),
        0
    ) as share
from feed_usage as u
join oracle_feeds as f on f.feed_id = u.feed_id
left join assets as a on a.asset_id = u.asset_id
group by f.feed_id, f.description, f.kind
having count(distinct u.protocol_id) >= $min_protocols
order by protocols desc, priced_usd desc, f.feed_id
