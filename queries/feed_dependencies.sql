-- feed_dependencies: every feed whose answer a feed depends on (itself included)
-- grain: one row per feed and feed it depends on, through any depth of composition
-- key: feed_id, depends_on_feed_id
-- A composite feed (wstETH/USD = wstETH/ETH rate x ETH/USD) depends on its sources and on
-- theirs. union (not union all) drops repeats, so a cycle in bad data still terminates.
with recursive components as (
    select feed_id, unnest(source_feed_ids) as source_feed_id
    from oracle_feeds
),
closure(feed_id, depends_on_feed_id) as (
    select feed_id, feed_id
    from oracle_feeds
    union
    select c.feed_id, s.source_feed_id
    from closure as c
    join components as s on s.feed_id = c.depends_on_feed_id
)
select
    feed_id,
    depends_on_feed_id,
    feed_id = depends_on_feed_id as is_self
from closure
