# pragma version ~=0.4.3
"""Aave v3 Pool with the real ABI of the functions and events the indexer reads.

Rules follow aave-v3-core GenericLogic.calculateUserAccountData (health factor with the
e-mode threshold for assets of the user's category; reserves the user neither borrows nor
uses as collateral are skipped, as the real loop skips them on the user's configuration
bitmap, UserConfiguration.isUsingAsCollateralOrBorrowing) and LiquidationLogic (collateral
seized = debt repaid x price ratio x liquidationBonus). The borrowing flag is set on a borrow
and cleared when the debt is repaid or liquidated in full (BorrowLogic.executeRepay,
LiquidationLogic.executeLiquidationCall). No interest accrues (indexes stay at one
ray) and tokens are not transferred: aToken and variable-debt-token balances are the state.
"""

interface Token:
    def mint(to: address, amount: uint256): nonpayable
    def burn(owner: address, amount: uint256): nonpayable
    def balanceOf(owner: address) -> uint256: view

interface Oracle:
    def getAssetPrice(asset: address) -> uint256: view

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

struct EModeCategory:
    ltv: uint16
    liquidationThreshold: uint16
    liquidationBonus: uint16
    priceSource: address
    label: String[32]

event Supply:
    reserve: indexed(address)
    user: address
    onBehalfOf: indexed(address)
    amount: uint256
    referralCode: indexed(uint16)

event Withdraw:
    reserve: indexed(address)
    user: indexed(address)
    to: indexed(address)
    amount: uint256

event Borrow:
    reserve: indexed(address)
    user: address
    onBehalfOf: indexed(address)
    amount: uint256
    interestRateMode: uint8
    borrowRate: uint256
    referralCode: indexed(uint16)

event Repay:
    reserve: indexed(address)
    user: indexed(address)
    repayer: indexed(address)
    amount: uint256
    useATokens: bool

event LiquidationCall:
    collateralAsset: indexed(address)
    debtAsset: indexed(address)
    user: indexed(address)
    debtToCover: uint256
    liquidatedCollateralAmount: uint256
    liquidator: address
    receiveAToken: bool

event ReserveUsedAsCollateralEnabled:
    reserve: indexed(address)
    user: indexed(address)

event ReserveUsedAsCollateralDisabled:
    reserve: indexed(address)
    user: indexed(address)

event UserEModeSet:
    user: indexed(address)
    categoryId: uint8

WAD: constant(uint256) = 10 ** 18
BPS: constant(uint256) = 10 ** 4

oracle: public(address)
reservesList: DynArray[address, 16]
reserves: HashMap[address, Reserve]
eModes: HashMap[uint8, EModeCategory]
userEMode: HashMap[address, uint8]
collateralEnabled: HashMap[address, HashMap[address, bool]]
borrowing: HashMap[address, HashMap[address, bool]]


@deploy
def __init__(_oracle: address):
    self.oracle = _oracle


@external
def initReserve(asset: address, r: Reserve):
    self.reservesList.append(asset)
    self.reserves[asset] = r


@external
def setEModeCategory(id: uint8, category: EModeCategory):
    self.eModes[id] = category


@external
@view
def getReservesList() -> DynArray[address, 16]:
    return self.reservesList


@external
@view
def getReserve(asset: address) -> Reserve:
    return self.reserves[asset]


@external
@view
def getEModeCategoryData(id: uint8) -> EModeCategory:
    return self.eModes[id]


@external
@view
def getUserEMode(user: address) -> uint256:
    return convert(self.userEMode[user], uint256)


@external
@view
def isCollateral(asset: address, user: address) -> bool:
    return self.collateralEnabled[user][asset]


@view
def _thresholds(asset: address, user: address) -> (uint256, uint256):
    cat: uint8 = self.userEMode[user]
    if cat != 0 and self.reserves[asset].eModeCategory == convert(cat, uint256):
        return convert(self.eModes[cat].ltv, uint256), convert(self.eModes[cat].liquidationThreshold, uint256)
    return self.reserves[asset].ltv, self.reserves[asset].liquidationThreshold


@view
def _account(user: address) -> (uint256, uint256, uint256, uint256, uint256, uint256):
    total_coll: uint256 = 0
    total_debt: uint256 = 0
    weighted_lt: uint256 = 0
    weighted_ltv: uint256 = 0
    for asset: address in self.reservesList:
        collateral: bool = self.collateralEnabled[user][asset]
        borrowed: bool = self.borrowing[user][asset]
        if not (collateral or borrowed):
            continue
        price: uint256 = staticcall Oracle(self.oracle).getAssetPrice(asset)
        unit: uint256 = 10 ** self.reserves[asset].decimals
        if collateral:
            bal: uint256 = staticcall Token(self.reserves[asset].aToken).balanceOf(user)
            value: uint256 = bal * price // unit
            ltv: uint256 = 0
            lt: uint256 = 0
            ltv, lt = self._thresholds(asset, user)
            total_coll += value
            weighted_lt += value * lt
            weighted_ltv += value * ltv
        if borrowed:
            debt: uint256 = staticcall Token(self.reserves[asset].variableDebtToken).balanceOf(user)
            total_debt += (debt * price + unit - 1) // unit
    avg_lt: uint256 = 0
    avg_ltv: uint256 = 0
    if total_coll > 0:
        avg_lt = weighted_lt // total_coll
        avg_ltv = weighted_ltv // total_coll
    hf: uint256 = max_value(uint256)
    if total_debt > 0:
        hf = weighted_lt * WAD // BPS // total_debt
    available: uint256 = 0
    if weighted_ltv // BPS > total_debt:
        available = weighted_ltv // BPS - total_debt
    return total_coll, total_debt, available, avg_lt, avg_ltv, hf


@external
@view
def getUserAccountData(user: address) -> (uint256, uint256, uint256, uint256, uint256, uint256):
    return self._account(user)


@external
def setUserEMode(categoryId: uint8):
    self.userEMode[msg.sender] = categoryId
    log UserEModeSet(user=msg.sender, categoryId=categoryId)


@external
def setUserEModeFor(user: address, categoryId: uint8):
    self.userEMode[user] = categoryId
    log UserEModeSet(user=user, categoryId=categoryId)


def _enable(asset: address, user: address):
    if not self.collateralEnabled[user][asset]:
        self.collateralEnabled[user][asset] = True
        log ReserveUsedAsCollateralEnabled(reserve=asset, user=user)


def _supply(asset: address, amount: uint256, onBehalfOf: address, referralCode: uint16):
    r: Reserve = self.reserves[asset]
    assert r.isActive, "reserve inactive"
    first: bool = staticcall Token(r.aToken).balanceOf(onBehalfOf) == 0
    extcall Token(r.aToken).mint(onBehalfOf, amount)
    if first and r.usageAsCollateralEnabled and r.ltv > 0:
        self._enable(asset, onBehalfOf)
    log Supply(reserve=asset, user=msg.sender, onBehalfOf=onBehalfOf, amount=amount, referralCode=referralCode)


@external
def supply(asset: address, amount: uint256, onBehalfOf: address, referralCode: uint16):
    self._supply(asset, amount, onBehalfOf, referralCode)


@external
def supplyMany(asset: address, users: DynArray[address, 256], amounts: DynArray[uint256, 256]):
    """Test driver: one supply per (user, amount) in a single transaction."""
    for i: uint256 in range(len(users), bound=256):
        self._supply(asset, amounts[i], users[i], 0)


def _borrow(asset: address, amount: uint256, onBehalfOf: address):
    r: Reserve = self.reserves[asset]
    assert r.borrowingEnabled, "borrowing disabled"
    extcall Token(r.variableDebtToken).mint(onBehalfOf, amount)
    self.borrowing[onBehalfOf][asset] = True
    a: (uint256, uint256, uint256, uint256, uint256, uint256) = self._account(onBehalfOf)
    assert a[5] >= WAD, "health factor below 1"
    log Borrow(reserve=asset, user=msg.sender, onBehalfOf=onBehalfOf, amount=amount, interestRateMode=2, borrowRate=0, referralCode=0)


@external
def borrow(asset: address, amount: uint256, interestRateMode: uint256, referralCode: uint16, onBehalfOf: address):
    # Credit delegation is not modelled: any caller may borrow on behalf of any account.
    self._borrow(asset, amount, onBehalfOf)


@external
def borrowMany(asset: address, users: DynArray[address, 256], amounts: DynArray[uint256, 256]):
    """Test driver: one borrow per (user, amount) in a single transaction."""
    for i: uint256 in range(len(users), bound=256):
        self._borrow(asset, amounts[i], users[i])


@external
def repay(asset: address, amount: uint256, interestRateMode: uint256, onBehalfOf: address) -> uint256:
    r: Reserve = self.reserves[asset]
    owed: uint256 = staticcall Token(r.variableDebtToken).balanceOf(onBehalfOf)
    paid: uint256 = min(amount, owed)
    extcall Token(r.variableDebtToken).burn(onBehalfOf, paid)
    if paid == owed:
        self.borrowing[onBehalfOf][asset] = False
    log Repay(reserve=asset, user=onBehalfOf, repayer=msg.sender, amount=paid, useATokens=False)
    return paid


@external
def withdraw(asset: address, amount: uint256, to: address) -> uint256:
    r: Reserve = self.reserves[asset]
    extcall Token(r.aToken).burn(msg.sender, amount)
    if staticcall Token(r.aToken).balanceOf(msg.sender) == 0 and self.collateralEnabled[msg.sender][asset]:
        self.collateralEnabled[msg.sender][asset] = False
        log ReserveUsedAsCollateralDisabled(reserve=asset, user=msg.sender)
    a: (uint256, uint256, uint256, uint256, uint256, uint256) = self._account(msg.sender)
    assert a[5] >= WAD, "health factor below 1"
    log Withdraw(reserve=asset, user=msg.sender, to=to, amount=amount)
    return amount


@external
def setUserUseReserveAsCollateral(asset: address, useAsCollateral: bool):
    if useAsCollateral:
        self._enable(asset, msg.sender)
    elif self.collateralEnabled[msg.sender][asset]:
        self.collateralEnabled[msg.sender][asset] = False
        log ReserveUsedAsCollateralDisabled(reserve=asset, user=msg.sender)


@external
def liquidationCall(collateralAsset: address, debtAsset: address, user: address, debtToCover: uint256, receiveAToken: bool):
    a: (uint256, uint256, uint256, uint256, uint256, uint256) = self._account(user)
    assert a[5] < WAD, "health factor not below threshold"
    c: Reserve = self.reserves[collateralAsset]
    d: Reserve = self.reserves[debtAsset]
    debt: uint256 = staticcall Token(d.variableDebtToken).balanceOf(user)
    close: uint256 = debt // 2
    if a[5] < 95 * WAD // 100:
        close = debt
    repaid: uint256 = min(debtToCover, close)
    bonus: uint256 = c.liquidationBonus
    cat: uint8 = self.userEMode[user]
    if cat != 0 and c.eModeCategory == convert(cat, uint256):
        bonus = convert(self.eModes[cat].liquidationBonus, uint256)
    p_debt: uint256 = staticcall Oracle(self.oracle).getAssetPrice(debtAsset)
    p_coll: uint256 = staticcall Oracle(self.oracle).getAssetPrice(collateralAsset)
    seized: uint256 = repaid * p_debt * 10 ** c.decimals * bonus // (p_coll * 10 ** d.decimals * BPS)
    held: uint256 = staticcall Token(c.aToken).balanceOf(user)
    if seized > held:
        seized = held
        repaid = held * p_coll * 10 ** d.decimals * BPS // (p_debt * 10 ** c.decimals * bonus)
    extcall Token(d.variableDebtToken).burn(user, repaid)
    if repaid == debt:
        self.borrowing[user][debtAsset] = False
    extcall Token(c.aToken).burn(user, seized)
    if receiveAToken:
        extcall Token(c.aToken).mint(msg.sender, seized)
    log LiquidationCall(collateralAsset=collateralAsset, debtAsset=debtAsset, user=user, debtToCover=repaid, liquidatedCollateralAmount=seized, liquidator=msg.sender, receiveAToken=receiveAToken)
