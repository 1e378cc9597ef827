-- multi_protocol_clusters: borrower clusters owing several lending protocols at once, by debt
-- grain: one row per account cluster owing at least min_protocols protocols
-- key: cluster
-- param: min_protocols BIGINT = 2  -- least number of protocols a cluster owes
-- Such borrowers tie protocols together: a shock that liquidates them in one protocol hits the
-- same accounts' positions in the others.
select
    cluster,
    any_value(protocol_count) as protocols,
    max(accounts) as accounts,
    sum(debt_usd) as debt_usd,
    sum(collateral_usd) as collateral_usd,
    sum(debt_usd) / nullif(sum(collateral_usd), 0) as loan_to_value
from cluster_exposure
group by cluster
having any_value(protocol_count) >= $min_protocols
order by debt_usd desc, cluster
