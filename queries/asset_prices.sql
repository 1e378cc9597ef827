-- asset_prices: every asset's market price, symbol and decimals at the snapshot
-- grain: one row per asset
-- key: asset_id
select
    asset_id,
    chain_id,
    symbol,
    decimals,
    kind as asset_kind,
    underlying_asset_id,
    price_usd,
    source,
    block_number,
    "timestamp"
from assets
