-- cluster_exposure: borrowers grouped by the set of lending protocols they owe, debt per protocol
-- grain: one row per account cluster and protocol it owes
-- key: cluster, protocol_id
-- An account's cluster is the sorted '+'-joined list of protocols where it has debt, e.g.
-- 'aave-v3-ethereum+compound-v3-usdc'. Clusters keep the graph small (no node per account)
-- while keeping what matters for contagion: a multi-protocol cluster is one set of borrowers
-- whose liquidations in one protocol coincide with stress in the others. Accounts without
-- debt only lend; their exposure is the market's supply and they join no cluster.
with owed as (
    select
        account,
        protocol_id,
        min(chain_id) as chain_id,
        sum(debt_usd) as debt_usd,
        coalesce(sum(collateral_usd) filter (where used_as_collateral), 0) as collateral_usd
    from position_values
    group by account, protocol_id
    having sum(debt_amount) > 0
),
membership as (
    select
        account,
        array_to_string(list_sort(list(protocol_id)), '+') as cluster,
        count(*) as protocol_count
    from owed
    group by account
)
select
    m.cluster,
    o.protocol_id,
    any_value(m.protocol_count) as protocol_count,
    min(o.chain_id) as chain_id,
    count(*) as accounts,
    sum(o.debt_usd) as debt_usd,
    sum(o.collateral_usd) as collateral_usd,
    any_value(t.source) as source,
    any_value(t.block_number) as block_number,
    any_value(t."timestamp") as "timestamp"
from owed as o
join membership as m on m.account = o.account
-- Provenance per protocol: the positions of the whole protocol were read together.
left join (
    select
        protocol_id,
        string_agg(distinct source, ',' order by source) as source,
        max(block_number) as block_number,
        max("timestamp") as "timestamp"
    from market_totals
    group by protocol_id
) as t on t.protocol_id = o.protocol_id
group by m.cluster, o.protocol_id
