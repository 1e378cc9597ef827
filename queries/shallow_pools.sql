-- shallow_pools: AMM pools set against the liquidation flow they would receive after a price shock
-- grain: one row per pool and pool token whose price root has collateral liquidated at the shock
-- key: pool_id, token_index
-- param: shock DOUBLE = -0.3  -- price move applied to each price root alone (-0.3 = 30% down)
-- param: min_ratio DOUBLE = 0  -- least flow_to_reserve to list a pool token
-- The flow of a root is the collateral rooted in it of the books that become liquidatable when
-- the root alone moves by the shock (book_root_exposure; the liquidation_ladder rule), valued
-- at the moved price: the most liquidators may seize and sell. It is spread over every pool
-- token rooted in it pro rata to reserve value, as arbitrage spreads a sale over venues, so
-- flow_to_reserve is the same for the pools of one root; alone_to_reserve is the share of this
-- pool's reserve the whole flow would be if liquidators sold into this pool only. For a
-- constant-product pool, cp_price_move is the move of its price after the pro-rata flow is sold
-- in (x'y' = xy with the fee on the input, Uniswap v2); null for other pool kinds, whose
-- curves need the AMM math (contagion.scores computes their 2% depth with it).
with flows as (
    select
        root_asset_id,
        sum(collateral_in_usd * (1 + $shock)) as flow_usd
    from book_root_exposure
    where
        liquidation_value_in_usd + liquidation_value_out_usd >= debt_in_usd + debt_out_usd
        and liquidation_value_in_usd * (1 + $shock) + liquidation_value_out_usd
        < debt_in_usd * (1 + $shock) + debt_out_usd
    group by root_asset_id
),
tokens as (
    select
        p.pool_id,
        p.token_index,
        p.protocol_id,
        p.pool_kind,
        p.asset_id,
        p.symbol,
        p.reserve,
        r.root_asset_id,
        p.reserve_usd * (1 + $shock) as reserve_usd,
        sum(p.reserve_usd * (1 + $shock)) over (partition by r.root_asset_id) as root_reserve_usd
    from pool_reserves as p
    join price_roots as r on r.asset_id = p.asset_id
)
select
    t.pool_id,
    t.token_index,
    t.protocol_id,
    t.pool_kind,
    t.asset_id,
    t.symbol,
    t.root_asset_id,
    t.reserve,
    t.reserve_usd,
    f.flow_usd as root_flow_usd,
    f.flow_usd * t.reserve_usd / nullif(t.root_reserve_usd, 0) as flow_usd,
    f.flow_usd / nullif(t.root_reserve_usd, 0) as flow_to_reserve,
    f.flow_usd / nullif(t.reserve_usd, 0) as alone_to_reserve,
    case
        when t.pool_kind = 'constant-product' and t.reserve_usd > 0 then
            1.0 / (
                (1 + (1 - pl.fee) * f.flow_usd / t.root_reserve_usd)
                * (1 + f.flow_usd / t.root_reserve_usd)
            ) - 1
    end as cp_price_move
from tokens as t
join flows as f on f.root_asset_id = t.root_asset_id
join pools as pl on pl.pool_id = t.pool_id
where f.flow_usd > 0 and coalesce(f.flow_usd / nullif(t.root_reserve_usd, 0), 0) >= $min_ratio
order by flow_to_reserve desc, alone_to_reserve desc, t.pool_id, t.token_index
