# pragma version ~=0.4.3
"""ERC-20 token with mint and burn by its minter (underlying tokens, aTokens, debt tokens)."""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

name: public(String[64])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
minter: public(address)


@deploy
def __init__(_name: String[64], _symbol: String[32], _decimals: uint8, _minter: address):
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.minter = _minter


@external
def mint(to: address, amount: uint256):
    assert msg.sender == self.minter, "minter only"
    self.balanceOf[to] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def burn(owner: address, amount: uint256):
    assert msg.sender == self.minter, "minter only"
    self.balanceOf[owner] -= amount
    self.totalSupply -= amount
    log Transfer(sender=owner, receiver=empty(address), value=amount)
