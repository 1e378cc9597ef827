-- feed_usage: markets whose price depends on a feed, read directly or through a composite
-- grain: one row per feed and market it prices
-- key: feed_id, protocol_id, asset_id
-- priced_usd is the value whose health check reads the price: collateral counted as such plus
-- debt in that market.
select
    d.depends_on_feed_id as feed_id,
    u.protocol_id,
    u.asset_id,
    u.feed_id as read_feed_id,
    d.is_self as direct,
    u.chain_id,
    m.collateral_usd + m.debt_usd as priced_usd
from oracle_usage as u
join feed_dependencies as d on d.feed_id = u.feed_id
join protocol_markets as m on m.protocol_id = u.protocol_id and m.asset_id = u.asset_id
