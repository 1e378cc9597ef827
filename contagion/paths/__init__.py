"""Contagion paths: the run's losses traced back to the shock and ranked by USD.

From a run's cause records (:mod:`contagion.causes`) :func:`rank_paths` builds the weighted
causal graph across rounds, nodes being ``(time, graph node)``, and attributes every loss of
:attr:`PropagationResult.losses` to the chains of causes that led to it by proportional flow
tracing (:mod:`contagion.tracing`: each node's outflow is attributed to its inflows so far in
proportion to their USD, Bialek 1996). Paths from the scenario to a loss are ranked by the
USD they carry; losses whose chain ends at a move with no recorded cause form the residual,
reported per origin, so that ``sum(all paths) + residual == total losses``.

Time inside a round follows the solver's steps (:mod:`contagion.propagate`): oracles read the
previous round's prices, lending liquidates at the new answers, liquidators, dealers and
perpetual venues sell, algorithmic coins redeem and run, the market clears the round's flow
with the scenario's moves, and bad debt writes receipt tokens down. Three kinds of link are
added to the records, each one the solver's own rule:

* a dealer's hedge or a perpetual liquidation in an asset is caused by that asset's price
  (``underlying``: asset -> the venue's book in that asset, ``venue:<venue>|<asset>``, worth
  the venue's flow; one node per underlying, so one asset's move does not share in the
  causes of another's force-closes and losses);
* a composite feed's update is shared among its source feeds in proportion to how far each
  moved since the composite last published (the records split it evenly);
* a scheduled protocol write-down is caused by the scenario (``scenario -> protocol``, worth
  the write-down beyond that round's bad debt).

Losses are the rows of :attr:`~contagion.result.PropagationResult.losses`: a protocol's bad
debt is spread over its ``bad_debt`` records (scaled to the final level, since auctions can
recover part of a shortfall); a perpetual market's insurance-fund draws and ADL are losses of
its venue in the rounds they happened; an algorithmic coin's depeg is a loss of the coin.
"""

from contagion.paths.ranking import ContagionPath, PathRanking, path_labels, rank_paths
from contagion.paths.text import NodeNamer

__all__ = ["ContagionPath", "NodeNamer", "PathRanking", "path_labels", "rank_paths"]
