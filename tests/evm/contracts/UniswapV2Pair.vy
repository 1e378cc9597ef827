# pragma version ~=0.4.3
"""Uniswap v2 pair: token0, token1, getReserves, Sync and Swap with the real ABI.

Swaps follow the whitepaper's constant product with the 0.3% fee on the input."""

event Sync:
    reserve0: uint112
    reserve1: uint112

event Swap:
    sender: indexed(address)
    amount0In: uint256
    amount1In: uint256
    amount0Out: uint256
    amount1Out: uint256
    to: indexed(address)

token0: public(address)
token1: public(address)
reserve0: uint112
reserve1: uint112
stamp: uint32


@deploy
def __init__(_token0: address, _token1: address, r0: uint112, r1: uint112):
    self.token0 = _token0
    self.token1 = _token1
    self._sync(r0, r1)


def _sync(r0: uint112, r1: uint112):
    self.reserve0 = r0
    self.reserve1 = r1
    self.stamp = convert(block.timestamp % 2 ** 32, uint32)
    log Sync(reserve0=r0, reserve1=r1)


@external
@view
def getReserves() -> (uint112, uint112, uint32):
    return (self.reserve0, self.reserve1, self.stamp)


@external
def swapExactIn(amountIn: uint256, zeroForOne: bool):
    """Test driver: sell ``amountIn`` of one token for the other at the pool price."""
    r0: uint256 = convert(self.reserve0, uint256)
    r1: uint256 = convert(self.reserve1, uint256)
    fee_in: uint256 = amountIn * 997
    if zeroForOne:
        out: uint256 = fee_in * r1 // (r0 * 1000 + fee_in)
        self._sync(convert(r0 + amountIn, uint112), convert(r1 - out, uint112))
        log Swap(sender=msg.sender, amount0In=amountIn, amount1In=0, amount0Out=0, amount1Out=out, to=msg.sender)
    else:
        out: uint256 = fee_in * r0 // (r1 * 1000 + fee_in)
        self._sync(convert(r0 - out, uint112), convert(r1 + amountIn, uint112))
        log Swap(sender=msg.sender, amount0In=0, amount1In=amountIn, amount0Out=out, amount1Out=0, to=msg.sender)
