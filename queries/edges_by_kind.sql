-- edges_by_kind: how many edges of each kind the exposure graph has and their total USD weight
-- grain: one row per edge kind present in the graph
-- key: kind
select
    kind,
    count(*) as edges,
    sum(usd) as usd
from graph_edges
group by kind
order by kind
