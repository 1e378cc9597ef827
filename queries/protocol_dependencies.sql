-- protocol_dependencies: the edges into one protocol and its markets, largest first
-- grain: one row per edge into the protocol or into one of its markets
-- key: src, dst, kind
-- param: protocol_id VARCHAR = aave-v3-ethereum  -- the protocol (protocols.protocol_id)
-- part_of edges are left out: they tie the protocol's own markets to it.
select
    e.src,
    n.kind as src_kind,
    n.label as src_label,
    e.kind,
    e.dst,
    e.usd,
    e.detail,
    e.source,
    e.block_number
from graph_edges as e
join graph_nodes as n on n.node_id = e.src
where
    e.kind <> 'part_of'
    and (
        e.dst = 'protocol:' || $protocol_id
        or starts_with(e.dst, 'market:' || $protocol_id || '|')
    )
order by e.usd desc, e.kind, e.src, e.dst
