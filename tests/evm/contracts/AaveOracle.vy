# pragma version ~=0.4.3
"""AaveOracle: one Chainlink source per asset, prices in USD with 8 decimals."""

interface Aggregator:
    def latestAnswer() -> int256: view

BASE_CURRENCY_UNIT: public(constant(uint256)) = 10 ** 8
sources: HashMap[address, address]


@external
def setAssetSource(asset: address, source: address):
    self.sources[asset] = source


@external
@view
def getSourceOfAsset(asset: address) -> address:
    return self.sources[asset]


@external
@view
def getAssetPrice(asset: address) -> uint256:
    return convert(staticcall Aggregator(self.sources[asset]).latestAnswer(), uint256)
