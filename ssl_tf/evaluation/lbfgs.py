"""A small full-batch L-BFGS minimiser in NumPy.

Used by the linear probe: on a few hundred thousand frozen features a
full-batch quasi-Newton method reaches the regularised optimum in tens of
iterations, where minibatch SGD needs many epochs and leaves an
optimisation error that blurs the regularisation sweep.

Kept after a side-by-side measurement against scikit-learn's
`LogisticRegression(solver="lbfgs")` (the solver of CLIP's linear-probe
protocol), `benchmarks/linear_solver.py`, on the 50k x 128 train / 10k
test CIFAR-10 features of the `cifar10-quick` random-init export (same
standardised features, same objective with `C = 1 / (l2 * n)`, 300
iterations, warm starts along the L2 sweep, 2 shared CPU cores, 2026-12):

                        one fit, l2=1e-4        full linear_probe
    solver              wall s  it.  top-1    wall s  l2    top-1
    this module            7.9  287  40.11%     19.3  1e-6  40.19%
    sklearn (tol=1e-4)    65.8  300  40.01%    521.4  1e-5  40.08%

(scikit-learn with tol=1e-6: one fit 71.0 s, 40.01%.)

Equal accuracy (within 0.11 points) at 8x (one fit) to 27x (the whole
probe) less wall time: the objective runs as one TensorFlow graph in
float32, where scikit-learn evaluates it in float64 NumPy.

Reference:
 - [Nocedal, 1980](https://doi.org/10.1090/S0025-5718-1980-0572855-7)
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LBFGSResult:
    """The result of `minimize_lbfgs`.

    Args:
        x: the parameters found.
        value: the objective at `x`.
        iterations: number of L-BFGS iterations run.
        evaluations: number of objective evaluations.
        converged: whether a tolerance was met before `max_iter`.
    """

    x: np.ndarray
    value: float
    iterations: int
    evaluations: int
    converged: bool


def _direction(gradient, steps, changes):
    """The two-loop recursion: minus the inverse-Hessian estimate times g."""
    q = gradient.copy()
    alphas = []
    for s, y in zip(reversed(steps), reversed(changes), strict=True):
        rho = 1.0 / float(np.dot(y, s))
        alpha = rho * float(np.dot(s, q))
        q -= alpha * y
        alphas.append((rho, alpha))
    if steps:
        q *= float(np.dot(steps[-1], changes[-1])) / float(
            np.dot(changes[-1], changes[-1])
        )
    pairs = zip(steps, changes, strict=True)
    for (s, y), (rho, alpha) in zip(pairs, reversed(alphas), strict=True):
        beta = rho * float(np.dot(y, q))
        q += (alpha - beta) * s
    return -q


def minimize_lbfgs(
    fun,
    x0,
    max_iter: int = 300,
    memory: int = 10,
    gradient_tol: float = 1e-5,
    value_tol: float = 1e-6,
) -> LBFGSResult:
    """Minimises a smooth function given its value and gradient.

    Args:
        fun: Callable `x -> (value, gradient)` on 1-D float arrays.
        x0: Starting point, a 1-D float array.
        max_iter: Integer, the most iterations to run.
        memory: Integer, how many past steps approximate the Hessian.
        gradient_tol: Stop when the largest gradient entry is below this.
        value_tol: Stop when one step lowers the value by less than this
            fraction of it.

    Returns:
        An `LBFGSResult`.

    Example:
    >>> result = minimize_lbfgs(lambda x: (float(x @ x), 2 * x), np.ones(3))
    >>> bool(result.value < 1e-10)
    True
    """
    x = np.array(x0, copy=True)
    value, gradient = fun(x)
    evaluations = 1
    steps, changes = [], []
    for iteration in range(1, max_iter + 1):
        if np.max(np.abs(gradient)) < gradient_tol:
            return LBFGSResult(x, value, iteration - 1, evaluations, True)
        direction = _direction(gradient, steps, changes)
        slope = float(np.dot(gradient, direction))
        if slope >= 0:
            # Not a descent direction (numerical trouble): restart.
            steps.clear()
            changes.clear()
            direction = -gradient
            slope = -float(np.dot(gradient, gradient))
        # Without curvature information the first step is kept short.
        step = 1.0 if steps else min(1.0, 1.0 / np.linalg.norm(gradient))
        while True:
            candidate = x + step * direction
            new_value, new_gradient = fun(candidate)
            evaluations += 1
            # Armijo condition: a sufficient decrease along the direction.
            if new_value <= value + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        informed = bool(steps)
        s = candidate - x
        y = new_gradient - gradient
        # Only positive-curvature pairs keep the estimate positive definite.
        if float(np.dot(s, y)) > 1e-10:
            steps.append(s)
            changes.append(y)
            if len(steps) > memory:
                steps.pop(0)
                changes.pop(0)
        decrease = (value - new_value) / max(abs(value), abs(new_value), 1.0)
        x, value, gradient = candidate, new_value, new_gradient
        # A short first step (no curvature yet) says little about the optimum.
        if informed and 0 <= decrease < value_tol:
            return LBFGSResult(x, value, iteration, evaluations, True)
    return LBFGSResult(x, value, max_iter, evaluations, False)
