# pragma version ~=0.4.3
"""Curve StableSwap pool: coins, balances, A, fee with the real (3pool) ABI.

The exchange driver moves balances one for one less the fee (not the StableSwap invariant):
the indexer reads balances, it does not price swaps."""

event TokenExchange:
    buyer: indexed(address)
    sold_id: int128
    tokens_sold: uint256
    bought_id: int128
    tokens_bought: uint256

coins: public(address[3])
balances: public(uint256[3])
A: public(uint256)
fee: public(uint256)
rates: uint256[3]


@deploy
def __init__(_coins: address[3], _balances: uint256[3], _A: uint256, _fee: uint256, _rates: uint256[3]):
    self.coins = _coins
    self.balances = _balances
    self.A = _A
    self.fee = _fee
    self.rates = _rates


@external
def exchange(i: int128, j: int128, dx: uint256, min_dy: uint256):
    a: uint256 = convert(i, uint256)
    b: uint256 = convert(j, uint256)
    dy: uint256 = dx * self.rates[a] // self.rates[b]
    dy -= dy * self.fee // 10 ** 10
    assert dy >= min_dy, "Exchange resulted in fewer coins than expected"
    self.balances[a] += dx
    self.balances[b] -= dy
    log TokenExchange(buyer=msg.sender, sold_id=i, tokens_sold=dx, bought_id=j, tokens_bought=dy)
