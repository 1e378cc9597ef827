-- nodes_by_kind: how many nodes of each kind the exposure graph has and their total USD size
-- grain: one row per node kind present in the graph
-- key: kind
select
    kind,
    count(*) as nodes,
    sum(usd) as usd
from graph_nodes
group by kind
order by kind
