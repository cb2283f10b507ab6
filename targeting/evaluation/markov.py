"""Markov-chain removal effect, computed exactly from the absorbing chain over the observed states
(orders 1 to 4; sparse LU, deterministic, unlike simulation-based peers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.evaluation.journeys import SEP


# -- Markov chain removal effect ----------------------------------------------------------------
@dataclass
class MarkovChain:
    """A path table parsed once into the observed states of an order-``order`` chain.

    Only the structure is kept (which edges and end states each path uses), so bootstrap
    replicates re-weight it without parsing the paths again. State 0 is the start.
    """

    channels: list[str]
    has: np.ndarray          # (states, channels): the state's history window holds the channel
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_paths: object       # sparse (edges, paths): times each path takes each edge
    end_paths: object        # sparse (states, paths): 1 where the path ends in the state

    @classmethod
    def build(cls, paths: pd.DataFrame, order: int) -> MarkovChain:
        from scipy import sparse

        row, pos, codes, channels = parse_paths(paths)
        base = len(channels) + 1
        key = np.zeros(len(codes), dtype=np.int64)
        for lag in range(order):  # state = the last `order` channels, one base-`base` digit each
            earlier = np.full(len(codes), -1, dtype=np.int64)
            if lag < len(codes):
                earlier[lag:] = codes[:len(codes) - lag]
            earlier[pos < lag] = -1
            key += (earlier + 1) * base ** lag
        uniq, state = np.unique(key, return_inverse=True)
        state = state.astype(np.int64) + 1
        n_states = len(uniq) + 1
        has = np.zeros((n_states, len(channels)), dtype=bool)
        for lag in range(order):
            digit = (uniq // base ** lag) % base
            seen = digit > 0
            has[1 + np.flatnonzero(seen), digit[seen] - 1] = True
        first = pos == 0
        prev = np.r_[0, state[:-1]]
        prev[first] = 0
        edge_key, edge = np.unique(prev * n_states + state, return_inverse=True)
        n_paths = len(paths)
        ones = np.ones(len(state))
        edge_paths = sparse.csr_matrix((ones, (edge.ravel(), row)),
                                       shape=(len(edge_key), n_paths))
        last = np.r_[first[1:], True] if len(state) else first
        end_paths = sparse.csr_matrix((ones[last], (state[last], row[last])),
                                      shape=(n_states, n_paths))
        return cls(channels, has, edge_key // n_states, edge_key % n_states, edge_paths,
                   end_paths)

    def removal_effects(self, conversions: np.ndarray, nulls: np.ndarray, value: np.ndarray,
                        max_steps: int = 20_000) -> pd.DataFrame:
        """Share of conversions (and of value) lost when each channel's states lead nowhere.

        ``max_steps`` bounds the iteration before sparse LU takes over (see :func:`_absorb`).
        """
        from scipy import sparse

        n = self.has.shape[0]
        moves = self.edge_paths @ (conversions + nulls)
        conv, null = self.end_paths @ conversions, self.end_paths @ nulls
        totals = np.bincount(self.edge_from, moves, minlength=n) + conv + null
        totals[totals == 0] = 1.0
        Q = sparse.csr_matrix((moves / totals[self.edge_from], (self.edge_from, self.edge_to)),
                              shape=(n, n))
        rhs = np.column_stack([conv, self.end_paths @ value]) / totals[:, None]
        alive = np.column_stack([np.ones(n, dtype=bool), ~self.has])  # start chain, removals
        x = _absorb(Q, rhs, alive, max_steps=max_steps)
        base, kept = x[0], x[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            effects = np.where(base > 0, 1.0 - kept / base, 0.0)
        return pd.DataFrame(effects, index=self.channels, columns=["conversions", "value"])


def parse_paths(paths: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Touches of a path table as arrays: path row, position, channel code; sorted channels.

    One split of all paths joined (not one per path), and the names stripped once per distinct
    token rather than per touch.
    """
    texts = paths.path.astype(str).tolist()
    sep = SEP.strip()
    n = np.fromiter((t.count(sep) for t in texts), dtype=np.int64, count=len(texts)) + 1
    tokens = np.array(sep.join(texts).split(sep) if texts else [], dtype=object)
    raw_codes, raw_names = pd.factorize(tokens)
    stripped = [str(name).strip() for name in raw_names]
    channels = sorted(set(stripped))
    index = {name: i for i, name in enumerate(channels)}
    lookup = np.array([index[name] for name in stripped], dtype=np.int64)
    row = np.repeat(np.arange(len(texts), dtype=np.int64), n)
    pos = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return row, pos, lookup[raw_codes], channels


def _absorb(Q, rhs: np.ndarray, alive: np.ndarray, tol: float = 1e-13,
            max_steps: int = 20_000) -> np.ndarray:
    """Absorption reward from the start state of each sub-chain, all sub-chains at once.

    Sub-chain ``j`` keeps the states where ``alive[:, j]``; a move into any other state ends in
    null. Its rewards ``x_j`` solve ``x_j = alive_j * (r + Q x_j)``, iterated from zero for every
    sub-chain together (one sparse product per step, each step adds the journeys one touch
    longer) until the estimated remaining error is below ``tol`` relative to the largest reward;
    a chain whose paths loop too long to converge within ``max_steps`` is solved by sparse LU,
    one factorisation per sub-chain. Returns ``x[start]``, shape ``(sub-chains, rewards)``.
    """
    n, m = alive.shape
    k = rhs.shape[1]
    mask = np.repeat(alive, k, axis=1)
    reward = np.tile(rhs, (1, m)) * mask
    x = reward.copy()
    steps = []
    for _ in range(max_steps):
        new = reward + mask * (Q @ x)
        steps.append(float(np.abs(new - x).max()))
        x = new
        if steps[-1] == 0.0:
            break
        if len(steps) > 3:
            rate = min(max(steps[-1] / steps[-2], steps[-2] / steps[-3]), 1 - 1e-12)
            if steps[-1] * rate / (1 - rate) <= tol * max(float(np.abs(x).max()), 1e-300):
                break
    else:
        return _absorb_lu(Q, rhs, alive)
    return x[0].reshape(m, k)


def _absorb_lu(Q, rhs: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """The same rewards by sparse LU on each sub-chain (a fallback for slowly mixing chains)."""
    from scipy import sparse
    from scipy.sparse.linalg import splu

    system = (sparse.identity(Q.shape[0], format="csr") - Q).tocsr()
    out = np.zeros((alive.shape[1], rhs.shape[1]))
    for j in range(alive.shape[1]):
        keep = alive[:, j]
        out[j] = splu(system[keep][:, keep].tocsc()).solve(rhs[keep])[0]
    return out


def markov_credit(paths: pd.DataFrame, order: int = 1,
                   chain: MarkovChain | None = None) -> pd.DataFrame:
    """Removal effects per channel, for conversions and for value (absorbing Markov chain).

    The chain holds the observed states only and is solved with one sparse LU factorisation
    per removed channel on the sub-chain that survives the removal. Conversion is the absorbing
    state; its reward is a conversion (``conversions`` column) or the conversion value of the
    paths ending in the state (``value`` column), which reproduces ChannelAttribution's value
    chain (a conversion's value drawn from those of its last state).
    """
    chain = chain or MarkovChain.build(paths, order)
    return chain.removal_effects(*(paths[c].to_numpy(dtype=float)
                                   for c in ("conversions", "nulls", "value")))
