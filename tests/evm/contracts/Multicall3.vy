# pragma version ~=0.4.3
"""Multicall3 aggregate3 (mds1/multicall) with the real ABI: aggregate3((address,bool,bytes)[])."""

struct Call3:
    target: address
    allowFailure: bool
    callData: Bytes[100]

struct Result:
    success: bool
    returnData: Bytes[416]


@external
@view
def getBlockNumber() -> uint256:
    return block.number


@external
def aggregate3(calls: DynArray[Call3, 1024]) -> DynArray[Result, 1024]:
    out: DynArray[Result, 1024] = []
    for c: Call3 in calls:
        ok: bool = False
        data: Bytes[416] = b""
        ok, data = raw_call(c.target, c.callData, max_outsize=416, revert_on_failure=False)
        assert ok or c.allowFailure, "Multicall3: call failed"
        out.append(Result(success=ok, returnData=data))
    return out
