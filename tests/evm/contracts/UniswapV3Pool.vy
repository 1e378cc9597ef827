# pragma version ~=0.4.3
"""Uniswap v3 pool: slot0, liquidity, fee, tickSpacing, tickBitmap, ticks with the real ABI.

mint() updates ticks and the bitmap as Tick.update and TickBitmap.flipTick do (a word per
256 compressed ticks, wordPos = compressed >> 8, bitPos = compressed % 256) and adds active
liquidity when the range holds the current tick. setPrice() is a test driver that moves the
price and crosses the initialized ticks on the way (liquidity += / -= liquidityNet)."""

struct Slot0:
    sqrtPriceX96: uint160
    tick: int24
    observationIndex: uint16
    observationCardinality: uint16
    observationCardinalityNext: uint16
    feeProtocol: uint8
    unlocked: bool

struct TickInfo:
    liquidityGross: uint128
    liquidityNet: int128
    feeGrowthOutside0X128: uint256
    feeGrowthOutside1X128: uint256
    tickCumulativeOutside: int56
    secondsPerLiquidityOutsideX128: uint160
    secondsOutside: uint32
    initialized: bool

event Mint:
    sender: address
    owner: indexed(address)
    tickLower: indexed(int24)
    tickUpper: indexed(int24)
    amount: uint128
    amount0: uint256
    amount1: uint256

token0: public(address)
token1: public(address)
fee: public(uint24)
tickSpacing: public(int24)
liquidity: public(uint128)
slot0: public(Slot0)
tickBitmap: public(HashMap[int16, uint256])
ticks: public(HashMap[int24, TickInfo])
initializedTicks: DynArray[int24, 64]


@deploy
def __init__(_token0: address, _token1: address, _fee: uint24, _spacing: int24, sqrtPriceX96: uint160, tick: int24):
    self.token0 = _token0
    self.token1 = _token1
    self.fee = _fee
    self.tickSpacing = _spacing
    self.slot0 = Slot0(sqrtPriceX96=sqrtPriceX96, tick=tick, observationIndex=0, observationCardinality=1, observationCardinalityNext=1, feeProtocol=0, unlocked=True)


def _flip(tick: int24):
    compressed: int256 = convert(tick // self.tickSpacing, int256)
    word: int16 = convert(compressed >> 8, int16)
    bit: uint256 = convert(compressed & 255, uint256)
    self.tickBitmap[word] = self.tickBitmap[word] ^ (1 << bit)


def _update(tick: int24, delta: int128, upper: bool):
    info: TickInfo = self.ticks[tick]
    before: uint128 = info.liquidityGross
    info.liquidityGross = convert(convert(before, int256) + convert(delta, int256), uint128)
    if upper:
        info.liquidityNet -= delta
    else:
        info.liquidityNet += delta
    info.initialized = info.liquidityGross > 0
    if (before == 0) != (info.liquidityGross == 0):
        self._flip(tick)
        if before == 0:
            self.initializedTicks.append(tick)
    self.ticks[tick] = info


@external
def mint(recipient: address, tickLower: int24, tickUpper: int24, amount: uint128, data: Bytes[32]) -> (uint256, uint256):
    assert tickLower < tickUpper and tickLower % self.tickSpacing == 0 and tickUpper % self.tickSpacing == 0, "TLU"
    delta: int128 = convert(amount, int128)
    self._update(tickLower, delta, False)
    self._update(tickUpper, delta, True)
    current: int24 = self.slot0.tick
    if tickLower <= current and current < tickUpper:
        self.liquidity += amount
    log Mint(sender=msg.sender, owner=recipient, tickLower=tickLower, tickUpper=tickUpper, amount=amount, amount0=0, amount1=0)
    return (0, 0)


@external
def setPrice(sqrtPriceX96: uint160, tick: int24):
    """Test driver: move to ``tick``, crossing initialized ticks as a swap would."""
    old: int24 = self.slot0.tick
    liq: int256 = convert(self.liquidity, int256)
    for t: int24 in self.initializedTicks:
        net: int256 = convert(self.ticks[t].liquidityNet, int256)
        if not self.ticks[t].initialized:
            continue
        if old < t and t <= tick:
            liq += net
        elif tick < t and t <= old:
            liq -= net
    self.liquidity = convert(liq, uint128)
    s: Slot0 = self.slot0
    s.sqrtPriceX96 = sqrtPriceX96
    s.tick = tick
    self.slot0 = s
