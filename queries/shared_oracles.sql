-- shared_oracles: oracle feeds that several protocols' prices depend on, a common point of failure
-- grain: one row per feed read (directly or through a composite) by enough protocols
-- key: feed_id
-- param: min_protocols BIGINT = 2  -- least number of distinct protocols depending on the feed
select
    f.feed_id,
    f.description,
    f.kind,
    count(distinct u.protocol_id) as protocols,
    string_agg(distinct u.protocol_id, ',' order by u.protocol_id) as protocol_ids,
    count(*) as markets,
    count(*) filter (where not u.direct) as markets_via_composite,
    sum(u.priced_usd) as priced_usd
from feed_usage as u
join oracle_feeds as f on f.feed_id = u.feed_id
group by f.feed_id, f.description, f.kind
having count(distinct u.protocol_id) >= $min_protocols
order by protocols desc, priced_usd desc, f.feed_id
