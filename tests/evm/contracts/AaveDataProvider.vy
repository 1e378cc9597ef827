# pragma version ~=0.4.3
"""AaveProtocolDataProvider with the real ABI, reading the fixture Pool and its tokens."""

interface Token:
    def balanceOf(owner: address) -> uint256: view

struct Reserve:
    decimals: uint256
    ltv: uint256
    liquidationThreshold: uint256
    liquidationBonus: uint256
    reserveFactor: uint256
    usageAsCollateralEnabled: bool
    borrowingEnabled: bool
    isActive: bool
    isFrozen: bool
    aToken: address
    stableDebtToken: address
    variableDebtToken: address
    borrowCap: uint256
    supplyCap: uint256
    debtCeiling: uint256
    liquidationProtocolFee: uint256
    eModeCategory: uint256

interface Pool:
    def getReserve(asset: address) -> Reserve: view
    def isCollateral(asset: address, user: address) -> bool: view

pool: public(address)


@deploy
def __init__(_pool: address):
    self.pool = _pool


@external
@view
def getReserveConfigurationData(asset: address) -> (uint256, uint256, uint256, uint256, uint256, bool, bool, bool, bool, bool):
    r: Reserve = staticcall Pool(self.pool).getReserve(asset)
    return (r.decimals, r.ltv, r.liquidationThreshold, r.liquidationBonus, r.reserveFactor, r.usageAsCollateralEnabled, r.borrowingEnabled, False, r.isActive, r.isFrozen)


@external
@view
def getReserveTokensAddresses(asset: address) -> (address, address, address):
    r: Reserve = staticcall Pool(self.pool).getReserve(asset)
    return (r.aToken, r.stableDebtToken, r.variableDebtToken)


@external
@view
def getReserveCaps(asset: address) -> (uint256, uint256):
    r: Reserve = staticcall Pool(self.pool).getReserve(asset)
    return (r.borrowCap, r.supplyCap)


@external
@view
def getDebtCeiling(asset: address) -> uint256:
    return (staticcall Pool(self.pool).getReserve(asset)).debtCeiling


@external
@view
def getLiquidationProtocolFee(asset: address) -> uint256:
    return (staticcall Pool(self.pool).getReserve(asset)).liquidationProtocolFee


@external
@view
def getReserveEModeCategory(asset: address) -> uint256:
    return (staticcall Pool(self.pool).getReserve(asset)).eModeCategory


@external
@view
def getUserReserveData(asset: address, user: address) -> (uint256, uint256, uint256, uint256, uint256, uint256, uint256, uint40, bool):
    r: Reserve = staticcall Pool(self.pool).getReserve(asset)
    a: uint256 = staticcall Token(r.aToken).balanceOf(user)
    v: uint256 = staticcall Token(r.variableDebtToken).balanceOf(user)
    used: bool = staticcall Pool(self.pool).isCollateral(asset, user)
    return (a, 0, v, 0, v, 0, 0, 0, used)
