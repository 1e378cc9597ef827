# pragma version ~=0.4.3
"""Compound III Comet with the real ABI of what the indexer reads.

isLiquidatable follows Comet.sol: liquidity = sum(collateral x price x liquidateCF) -
borrow x basePrice, liquidatable when negative (prices from Chainlink feeds, 8 decimals,
factors scaled by 1e18). Interest indexes stay at one; absorb writes off the whole account.
"""

interface Aggregator:
    def latestRoundData() -> (uint80, int256, uint256, uint256, uint80): view

interface ERC20:
    def balanceOf(account: address) -> uint256: view

struct AssetInfo:
    offset: uint8
    asset: address
    priceFeed: address
    scale: uint64
    borrowCollateralFactor: uint64
    liquidateCollateralFactor: uint64
    liquidationFactor: uint64
    supplyCap: uint128

event Supply:
    sender: indexed(address)
    dst: indexed(address)
    amount: uint256

event Withdraw:
    src: indexed(address)
    to: indexed(address)
    amount: uint256

event SupplyCollateral:
    sender: indexed(address)
    dst: indexed(address)
    asset: indexed(address)
    amount: uint256

event WithdrawCollateral:
    src: indexed(address)
    to: indexed(address)
    asset: indexed(address)
    amount: uint256

event AbsorbDebt:
    absorber: indexed(address)
    borrower: indexed(address)
    basePaidOut: uint256
    usdValue: uint256

event AbsorbCollateral:
    absorber: indexed(address)
    borrower: indexed(address)
    asset: indexed(address)
    collateralAbsorbed: uint256
    usdValue: uint256

FACTOR_SCALE: constant(uint256) = 10 ** 18
PRICE_SCALE: constant(uint256) = 10 ** 8

baseToken: public(address)
baseTokenPriceFeed: public(address)
baseScale: public(uint256)
storeFrontPriceFactor: public(uint256)
numAssets: public(uint8)
infos: HashMap[uint8, AssetInfo]
principal: HashMap[address, int256]
collateral: HashMap[address, HashMap[address, uint128]]
totalSupply: public(uint256)
totalBorrow: public(uint256)
targetReserves: public(uint256)
collateralTotals: HashMap[address, uint128[2]]


@deploy
def __init__(_base: address, _feed: address, _scale: uint256, _storeFront: uint256):
    self.baseToken = _base
    self.baseTokenPriceFeed = _feed
    self.baseScale = _scale
    self.storeFrontPriceFactor = _storeFront


@external
def setTargetReserves(amount: uint256):
    # Set by governance through the Configurator on mainnet; directly here.
    self.targetReserves = amount


@external
@view
def getReserves() -> int256:
    """Comet.getReserves: base tokens held, less what suppliers are owed, plus what borrowers
    owe (interest indexes stay at one)."""
    held: uint256 = staticcall ERC20(self.baseToken).balanceOf(self)
    return convert(held, int256) - convert(self.totalSupply, int256) + convert(self.totalBorrow, int256)


@external
def addAsset(info: AssetInfo):
    self.infos[self.numAssets] = info
    self.numAssets += 1


@external
@view
def totalsCollateral(asset: address) -> (uint128, uint128):
    """Comet's TotalsCollateral struct: (totalSupplyAsset, _reserved)."""
    t: uint128[2] = self.collateralTotals[asset]
    return (t[0], t[1])


@external
@view
def getAssetInfo(i: uint8) -> AssetInfo:
    assert i < self.numAssets, "BadAsset"
    return self.infos[i]


@view
def _price(feed: address) -> uint256:
    answer: int256 = (staticcall Aggregator(feed).latestRoundData())[1]
    assert answer > 0, "BadPrice"
    return convert(answer, uint256)


@external
@view
def getPrice(priceFeed: address) -> uint256:
    return self._price(priceFeed)


@external
@view
def balanceOf(account: address) -> uint256:
    p: int256 = self.principal[account]
    return convert(max(p, 0), uint256)


@external
@view
def borrowBalanceOf(account: address) -> uint256:
    p: int256 = self.principal[account]
    return convert(max(-p, 0), uint256)


@external
@view
def collateralBalanceOf(account: address, asset: address) -> uint128:
    return self.collateral[account][asset]


@view
def _liquidity(account: address, liquidate: bool) -> int256:
    borrow: int256 = max(-self.principal[account], 0)
    liquidity: int256 = -convert(convert(borrow, uint256) * self._price(self.baseTokenPriceFeed) // self.baseScale, int256)
    for i: uint8 in range(8):
        if i >= self.numAssets:
            break
        info: AssetInfo = self.infos[i]
        amount: uint256 = convert(self.collateral[account][info.asset], uint256)
        if amount == 0:
            continue
        factor: uint256 = convert(info.borrowCollateralFactor, uint256)
        if liquidate:
            factor = convert(info.liquidateCollateralFactor, uint256)
        value: uint256 = amount * self._price(info.priceFeed) // convert(info.scale, uint256)
        liquidity += convert(value * factor // FACTOR_SCALE, int256)
    return liquidity


@external
@view
def isLiquidatable(account: address) -> bool:
    if self.principal[account] >= 0:
        return False
    return self._liquidity(account, True) < 0


def _find(asset: address) -> AssetInfo:
    for i: uint8 in range(8):
        if i >= self.numAssets:
            break
        if self.infos[i].asset == asset:
            return self.infos[i]
    raise "BadAsset"


@external
def supplyTo(dst: address, asset: address, amount: uint256):
    if asset == self.baseToken:
        before: int256 = self.principal[dst]
        after: int256 = before + convert(amount, int256)
        self._totals(before, after)
        self.principal[dst] = after
        log Supply(sender=msg.sender, dst=dst, amount=amount)
    else:
        info: AssetInfo = self._find(asset)
        self.collateral[dst][asset] += convert(amount, uint128)
        t: uint128[2] = self.collateralTotals[asset]
        t[0] += convert(amount, uint128)
        self.collateralTotals[asset] = t
        log SupplyCollateral(sender=msg.sender, dst=dst, asset=asset, amount=amount)


def _totals(before: int256, after: int256):
    # Comet.updateBasePrincipal: supply and borrow totals move with the signed principal.
    self.totalSupply = self.totalSupply + convert(max(after, 0), uint256) - convert(max(before, 0), uint256)
    self.totalBorrow = self.totalBorrow + convert(max(-after, 0), uint256) - convert(max(-before, 0), uint256)


@external
def withdrawFrom(src: address, to: address, asset: address, amount: uint256):
    # Operator permissions are not modelled: any caller may act for any account.
    if asset == self.baseToken:
        before: int256 = self.principal[src]
        after: int256 = before - convert(amount, int256)
        self._totals(before, after)
        self.principal[src] = after
        if after < 0:
            assert self._liquidity(src, False) >= 0, "NotCollateralized"
        log Withdraw(src=src, to=to, amount=amount)
    else:
        self.collateral[src][asset] -= convert(amount, uint128)
        t: uint128[2] = self.collateralTotals[asset]
        t[0] -= convert(amount, uint128)
        self.collateralTotals[asset] = t
        if self.principal[src] < 0:
            assert self._liquidity(src, False) >= 0, "NotCollateralized"
        log WithdrawCollateral(src=src, to=to, asset=asset, amount=amount)


@external
def absorb(absorber: address, accounts: DynArray[address, 16]):
    for account: address in accounts:
        assert self.principal[account] < 0 and self._liquidity(account, True) < 0, "NotLiquidatable"
        value_usd: uint256 = 0
        for i: uint8 in range(8):
            if i >= self.numAssets:
                break
            info: AssetInfo = self.infos[i]
            amount: uint128 = self.collateral[account][info.asset]
            if amount == 0:
                continue
            v: uint256 = convert(amount, uint256) * self._price(info.priceFeed) // convert(info.scale, uint256)
            value_usd += v * convert(info.liquidationFactor, uint256) // FACTOR_SCALE
            self.collateral[account][info.asset] = 0
            t: uint128[2] = self.collateralTotals[info.asset]
            t[0] -= amount
            self.collateralTotals[info.asset] = t
            log AbsorbCollateral(absorber=absorber, borrower=account, asset=info.asset, collateralAbsorbed=convert(amount, uint256), usdValue=v)
        before: int256 = self.principal[account]
        paid: uint256 = value_usd * self.baseScale // self._price(self.baseTokenPriceFeed)
        # Comet.absorbInternal: a shortfall is covered by the protocol (balance floored at 0).
        after: int256 = max(before + convert(paid, int256), 0)
        self._totals(before, after)
        self.principal[account] = after
        log AbsorbDebt(absorber=absorber, borrower=account, basePaidOut=paid, usdValue=value_usd)
