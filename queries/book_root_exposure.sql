-- book_root_exposure: each lending book split into what moves with one price root and the rest
-- grain: one row per price root and book (account x protocol) with collateral rooted in it
-- key: root_asset_id, protocol_id, account
-- A shock of the root by m scales the *_in parts by (1 + m) and leaves the *_out parts: the
-- book is liquidatable at m when liquidation_value_in (1 + m) + liquidation_value_out is below
-- debt_in (1 + m) + debt_out (position_weights). Only collateral counted as such (health
-- weight above 0) ties a book to a root: a fall of what a book only owes makes it healthier.
with tied as (
    select distinct root_asset_id, protocol_id, account
    from position_weights
    where liquidation_value_usd > 0
)
select
    t.root_asset_id,
    t.protocol_id,
    t.account,
    min(w.chain_id) as chain_id,
    coalesce(sum(w.collateral_usd) filter (where w.root_asset_id = t.root_asset_id), 0)
        as collateral_in_usd,
    coalesce(sum(w.collateral_usd) filter (where w.root_asset_id <> t.root_asset_id), 0)
        as collateral_out_usd,
    coalesce(sum(w.liquidation_value_usd) filter (where w.root_asset_id = t.root_asset_id), 0)
        as liquidation_value_in_usd,
    coalesce(sum(w.liquidation_value_usd) filter (where w.root_asset_id <> t.root_asset_id), 0)
        as liquidation_value_out_usd,
    coalesce(sum(w.debt_usd) filter (where w.root_asset_id = t.root_asset_id), 0) as debt_in_usd,
    coalesce(sum(w.debt_usd) filter (where w.root_asset_id <> t.root_asset_id), 0)
        as debt_out_usd
from tied as t
join position_weights as w on w.protocol_id = t.protocol_id and w.account = t.account
group by t.root_asset_id, t.protocol_id, t.account
