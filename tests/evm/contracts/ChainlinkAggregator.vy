# pragma version ~=0.4.3
"""Chainlink aggregator proxy: latestRoundData, decimals, description (AggregatorV3Interface)."""

event AnswerUpdated:
    current: indexed(int256)
    roundId: indexed(uint256)
    updatedAt: uint256

decimals: public(uint8)
description: public(String[64])
latestAnswer: public(int256)
round: uint80
updated: uint256


@deploy
def __init__(_decimals: uint8, _description: String[64], answer: int256):
    self.decimals = _decimals
    self.description = _description
    self._set(answer)


def _set(answer: int256):
    self.round += 1
    self.latestAnswer = answer
    self.updated = block.timestamp
    log AnswerUpdated(current=answer, roundId=convert(self.round, uint256), updatedAt=block.timestamp)


@external
def setAnswer(answer: int256):
    self._set(answer)


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    return (self.round, self.latestAnswer, self.updated, self.updated, self.round)
