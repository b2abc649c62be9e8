"""Customer lifetime value models, fitted by maximum likelihood.

BG/NBD (Fader, Hardie and Lee, "Counting Your Customers the Easy Way", Marketing Science 2005):
how many purchases a customer makes while alive, and when they silently stop. Gamma-Gamma
(Fader, Hardie and Lee, "RFM and CLV: Using Iso-Value Curves", JMR 2005; Hardie's note "The
Gamma-Gamma Model of Monetary Value"): how much a customer spends per purchase.

Inputs are per customer: x = repeat purchases (frequency), t_x = time of the last purchase since
the first (recency), T = time since the first purchase, in one unit (days, weeks), and for spend
m = the mean value of the repeat purchases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# SciPy is imported where a fit or a prediction uses it, not here: this module is imported by the
# analytics models, so by every process (web, worker, each `siyu` command), and SciPy's import
# cost each of them 0.8 s of start-up and memory they mostly never use.


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def expected_purchases(self, t, x, t_x, T):
        """E[Y(t) | x, t_x, T]: purchases in the next t periods (paper, eq. 10)."""
        from scipy.special import hyp2f1

        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T, t = (np.asarray(v, dtype=float) for v in (x, t_x, T, t))
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        return head * body / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))

    def probability_alive(self, x, t_x, T):
        """P(alive | x, t_x, T) (Fader, Hardie and Lee's note on computing it)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        return 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))

    def expected_purchases_new(self, t):
        """E[X(t)] for a customer just acquired (paper, eq. 7)."""
        from scipy.special import hyp2f1

        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = np.asarray(t, dtype=float)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float

    def expected_spend(self, x, m):
        """E[M | p, q, γ, m̄, x]: a customer's expected value per purchase."""
        x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
        return (self.gamma + m * x) * self.p / (self.p * x + self.q - 1)

    @property
    def population_mean(self) -> float:
        return self.p * self.gamma / (self.q - 1)


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (paper, eq. 6, in logs for stability)."""
    from scipy.special import gammaln

    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    """Each repeat customer's log-likelihood of their mean spend m̄ over x purchases (Hardie's note, eq. 4)."""
    from scipy.special import gammaln

    p, q, gamma = params
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma) + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x)
    )


def bgnbd_gradient(params, x, t_x, T, w) -> np.ndarray:
    """∂/∂(r, α, a, b) of the weighted BG/NBD log-likelihood summed over customers.

    With L = logaddexp(A3, A4) the last term's derivative is s3·A3′ + s4·A4′, where s3 and s4
    are the two terms' shares of the sum (s4 = 0 for a customer without repeat purchases)."""
    from scipy.special import digamma

    r, alpha, a, b = params
    repeat = x > 0
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        bx1 = np.where(repeat, b + x - 1, 1.0)
        a4 = np.where(repeat, np.log(a) - np.log(bx1) - (r + x) * np.log(alpha + t_x), -np.inf)
    total = np.logaddexp(a3, a4)
    s3, s4 = np.exp(a3 - total), np.where(repeat, np.exp(a4 - total), 0.0)
    common = digamma(a + b) - digamma(a + b + x)
    return np.array(
        [
            (w * (digamma(r + x) - digamma(r) + np.log(alpha) - s3 * np.log(alpha + T) - s4 * np.log(alpha + t_x))).sum(),
            (w * (r / alpha - s3 * (r + x) / (alpha + T) - s4 * (r + x) / (alpha + t_x))).sum(),
            (w * (common + s4 / a)).sum(),
            (w * (common + digamma(b + x) - digamma(b) - s4 / bx1)).sum(),
        ]
    )


def gamma_gamma_gradient(params, x, m, w) -> np.ndarray:
    """∂/∂(p, q, γ) of the weighted Gamma-Gamma log-likelihood summed over customers."""
    from scipy.special import digamma

    p, q, gamma = params
    common = digamma(p * x + q)
    lg = np.log(gamma + m * x)
    return np.array(
        [
            (w * x * (common - digamma(p * x) + np.log(m) + np.log(x) - lg)).sum(),
            (w * (common - digamma(q) + np.log(gamma) - lg)).sum(),
            (w * (q / gamma - (p * x + q) / (gamma + m * x))).sum(),
        ]
    )


def _fit(neg_ll, start: list[float], bounds: list[tuple[float, float]], gradient=None) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    # Positive parameters: search over their logs; Nelder-Mead to get close, L-BFGS-B to finish.
    # The box keeps small or regular data from running off to a boundary (say r, α → ∞, a → 0:
    # no heterogeneity, nobody drops out), where the likelihood flattens and predictions overflow.
    # With the likelihood's gradient L-BFGS-B alone gets there in tens of evaluations instead of
    # thousands: what makes a fit over millions of customers take seconds.
    log_bounds = [(np.log(lo), np.log(hi)) for lo, hi in bounds]
    objective = lambda z: neg_ll(np.exp(z))  # noqa: E731
    if gradient is not None:

        def with_jac(z):
            params = np.exp(z)
            return neg_ll(params), -gradient(params) * params  # d/dz of −LL, z = log(params)

        best = minimize(with_jac, np.log(start), jac=True, method="L-BFGS-B", bounds=log_bounds, options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000})
        if best.success:
            return np.exp(best.x), -best.fun
    first = minimize(
        objective, np.log(start), method="Nelder-Mead", bounds=log_bounds, options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000, "maxfev": 40000}
    )
    final = minimize(objective, first.x, method="L-BFGS-B", bounds=log_bounds, options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000})
    best = final if final.fun <= first.fun else first
    return np.exp(best.x), -best.fun


BGNBD_BOUNDS = [(1e-4, 1e4)] * 4
GG_BOUNDS = [(1e-4, 1e4), (1e-4, 1e4), (1e-4, 1e12)]  # γ is in the data's money unit (fen: large)


def at_limit(values, bounds, tolerance: float = 0.01) -> bool:
    """Whether a fit stopped against its box (within 1% of a bound): the estimates then say more
    about the box than about the customers, and operators should read the predictions as rough."""
    return any(np.log(v) - np.log(lo) < tolerance or np.log(hi) - np.log(v) < tolerance for v, (lo, hi) in zip(values, bounds, strict=True))


def fit_bgnbd(x, t_x, T, weights=None) -> BgNbd:
    """`weights`: how many customers share each (x, t_x, T) row. Millions of customers collapse to
    far fewer distinct rows, and the likelihood is the same weighted sum."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    _check(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    params, ll = _fit(
        lambda p: -(w * bgnbd_log_likelihood(p, x, t_x, T)).sum(), [1.0, 1.0, 1.0, 1.0], BGNBD_BOUNDS, gradient=lambda p: bgnbd_gradient(p, x, t_x, T, w)
    )
    return BgNbd(*map(float, params), float(ll))


def fit_gamma_gamma(x, m, weights=None) -> GammaGamma:
    """Fit on customers with at least one repeat purchase and a positive mean spend."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = (x > 0) & (m > 0)
    if not keep.any():
        raise ValueError("Gamma-Gamma needs customers with repeat purchases and a positive spend.")
    x, m, w = x[keep], m[keep], w[keep]
    params, ll = _fit(
        lambda p: -(w * gamma_gamma_log_likelihood(p, x, m)).sum(), _gamma_gamma_start(m), GG_BOUNDS, gradient=lambda p: gamma_gamma_gradient(p, x, m, w)
    )
    return GammaGamma(*map(float, params), float(ll))


def _gamma_gamma_start(m) -> list[float]:
    """A start in the right scale: γ near the mean spend (money may be yuan or fen), p and q moderate."""
    return [1.0, 2.0, float(max(np.mean(m), 1e-3))]


def _check(x, t_x, T) -> None:
    if len(x) == 0:
        raise ValueError("No customers to fit.")
    if (x < 0).any() or (t_x < 0).any() or (T <= 0).any() or (t_x > T).any() or ((x == 0) & (t_x != 0)).any():
        raise ValueError("Each customer needs frequency ≥ 0, 0 ≤ recency ≤ T, T > 0, and recency 0 when frequency is 0.")


UNIT_DAYS = {"day": 1, "week": 7, "month": 365.25 / 12}


def summary_from_transactions(transactions, *, calibration_end, unit: str = "week") -> dict:
    """Per customer (frequency, recency, T, monetary_value) from (customer, date, amount) rows.

    Purchases on one day count as one; frequency counts the days after the first, up to and
    including `calibration_end`; recency and T are measured from the first purchase in `unit`s;
    monetary_value is the mean amount of the repeat days (0 without any). Customers whose first
    purchase comes after `calibration_end` are left out.
    """
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit is one of {', '.join(UNIT_DAYS)}")
    days: dict = {}
    for customer, day, amount in transactions:
        per_day = days.setdefault(customer, {})
        per_day[day] = per_day.get(day, 0.0) + float(amount or 0)
    size = UNIT_DAYS[unit]
    out = {}
    for customer, per_day in days.items():
        ordered = sorted(per_day)
        first = ordered[0]
        if first > calibration_end:
            continue
        repeat = [d for d in ordered[1:] if d <= calibration_end]
        last = repeat[-1] if repeat else first
        out[customer] = (
            len(repeat),
            (last - first).days / size,
            (calibration_end - first).days / size,
            sum(per_day[d] for d in repeat) / len(repeat) if repeat else 0.0,
        )
    return out
