-- liquidation_ladder: collateral that becomes liquidatable as an asset's price falls, per protocol
-- grain: one row per shocked price root, lending protocol and price move of the grid
-- key: root_asset_id, protocol_id, price_move
-- param: asset VARCHAR = *  -- shocked asset, symbol or asset_id (its price root is moved); * = every root
-- param: first_move DOUBLE = -0.05  -- first price move of the grid (-0.05 = 5% down)
-- param: last_move DOUBLE = -0.6  -- last price move of the grid
-- param: step DOUBLE = 0.05  -- spacing of the grid (positive)
-- Each root is moved alone, with every asset rooted in it (price_roots): a fall of ETH moves
-- WETH and aEthWETH too, not stETH, which has a market of its own. A book counts at a level
-- once it is liquidatable there but was not at the snapshot (book_root_exposure gives the
-- rule); books already liquidatable are left out of every level. collateral_usd is all the
-- collateral of those books and shocked_collateral_usd the part moving with the root, both at
-- the moved prices: what liquidators may seize and sell. new_* count what joins at this level.
with selected as (
    select distinct root_asset_id
    from price_roots
    where $asset = '*' or symbol = $asset or asset_id = $asset
),
grid as (
    select
        k,
        $first_move + k * $step * sign($last_move - $first_move) as price_move
    from range(
        0,
        case
            when $step <= 0 then error('parameter step must be positive, got ' || $step)
            when abs($last_move - $first_move) / $step > 1000
                then error('parameters give more than 1000 price levels; use a larger step')
            else cast(floor(abs($last_move - $first_move) / $step + 1e-9) as bigint) + 1
        end
    ) as t(k)
),
books as (
    select e.*
    from book_root_exposure as e
    join selected as s on s.root_asset_id = e.root_asset_id
    -- Healthy at the snapshot: what falls from here on is new.
    where e.liquidation_value_in_usd + e.liquidation_value_out_usd >= e.debt_in_usd + e.debt_out_usd
),
checked as (
    select
        b.*,
        g.k,
        g.price_move,
        b.liquidation_value_in_usd * (1 + g.price_move) + b.liquidation_value_out_usd
            < b.debt_in_usd * (1 + g.price_move) + b.debt_out_usd as liquidatable
    from books as b
    cross join grid as g
),
firsts as (
    select
        *,
        min(k) filter (where liquidatable)
            over (partition by root_asset_id, protocol_id, account) as first_k
    from checked
),
levels as (
    select
        root_asset_id,
        protocol_id,
        k,
        price_move,
        count(*) filter (where liquidatable) as accounts,
        coalesce(sum(collateral_in_usd * (1 + price_move) + collateral_out_usd)
            filter (where liquidatable), 0) as collateral_usd,
        coalesce(sum(collateral_in_usd * (1 + price_move)) filter (where liquidatable), 0)
            as shocked_collateral_usd,
        coalesce(sum(debt_in_usd * (1 + price_move) + debt_out_usd)
            filter (where liquidatable), 0) as debt_usd,
        count(*) filter (where k = first_k) as new_accounts,
        coalesce(sum(collateral_in_usd * (1 + price_move)) filter (where k = first_k), 0)
            as new_shocked_collateral_usd
    from firsts
    group by root_asset_id, protocol_id, k, price_move
)
select
    l.root_asset_id,
    a.symbol,
    l.protocol_id,
    l.price_move,
    l.accounts,
    l.collateral_usd,
    l.shocked_collateral_usd,
    l.debt_usd,
    l.new_accounts,
    l.new_shocked_collateral_usd
from levels as l
left join assets as a on a.asset_id = l.root_asset_id
order by l.root_asset_id, l.protocol_id, l.k
