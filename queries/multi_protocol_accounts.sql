-- multi_protocol_accounts: accounts with positions on several lending protocols, largest debt first
-- grain: one row per account with positions on at least min_protocols lending protocols
-- key: account
-- param: min_protocols BIGINT = 2  -- least number of protocols the account has positions on
-- param: limit BIGINT = 100  -- how many accounts to return
-- Where multi_protocol_clusters groups borrowers by the protocols they owe, this lists the
-- accounts themselves, lenders included: protocols counts every protocol where the account
-- supplies or owes, debt_protocols those where it owes. min_health_factor and
-- min_distance_to_liquidation are its weakest book (loan_health), null without debt.
select
    account,
    count(*) as protocols,
    count(*) filter (where debt_usd > 0) as debt_protocols,
    string_agg(protocol_id, ',' order by protocol_id) as protocol_ids,
    sum(collateral_usd) as collateral_usd,
    sum(debt_usd) as debt_usd,
    min(health_factor) as min_health_factor,
    min(distance_to_liquidation) as min_distance_to_liquidation
from loan_health
group by account
having count(*) >= $min_protocols
order by debt_usd desc, collateral_usd desc, account
limit $limit
