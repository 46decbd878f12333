"""R-hat and ESS against ArviZ (the external oracle), known answers, and the warnings.

ArviZ 0.x (``rhat(method="rank")``, ``ess(method="bulk"|"tail")``) implements the
same definitions (Vehtari et al. 2021). Intended differences: epicast computes a
split R-hat for a single chain where ArviZ returns nan, gives nan ESS for a
parameter whose draws are all equal where ArviZ counts every draw, and takes the
exact 5%/95% quantile when it is an order statistic (see the tail ESS test).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from epicast.calibration import diagnostics

with warnings.catch_warnings():
    # some ArviZ releases announce API changes with a FutureWarning on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz

RTOL = 1e-9


def ar1(seed: int, chains: int, draws: int, rho: float, burn: int = 2000) -> np.ndarray:
    """Stationary AR(1) chains of shape (chains, draws) with unit marginal variance."""
    noise = np.random.default_rng(seed).normal(size=(chains, draws + burn))
    return lfilter([1.0], [1.0, -rho], noise * np.sqrt(1 - rho**2), axis=1)[:, burn:]


def _normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape)


CASES = {
    "iid normal": _normal(1, (4, 1000)),
    "AR(1) 0.9": ar1(2, 4, 500, 0.9),
    "AR(1) 0.99, all pairs positive": ar1(3, 4, 60, 0.99),
    "AR(1) -0.9, antithetic cap": ar1(4, 4, 1000, -0.9),
    "different means": _normal(5, (4, 300)) + np.arange(4)[:, None],
    "one chain off": _normal(6, (4, 300)) + np.array([[0.0], [0.0], [0.0], [0.5]]),
    "cauchy": np.random.default_rng(7).standard_cauchy(size=(4, 400)),
    "ties (poisson)": np.random.default_rng(8).poisson(1.0, size=(4, 200)).astype(float),
    "few draws": _normal(9, (4, 8)),
    "fewest draws": _normal(10, (2, 4)),
    "odd draws": ar1(11, 3, 101, 0.5),
    "odd draws, 5": _normal(12, (2, 5)),
    "many chains": ar1(13, 16, 50, 0.7),
}


@pytest.mark.parametrize("draws", CASES.values(), ids=CASES.keys())
def test_rhat_matches_arviz(draws):
    expected = arviz.rhat(draws, method="rank")
    np.testing.assert_allclose(diagnostics.split_rhat(draws), expected, rtol=RTOL)


@pytest.mark.parametrize("draws", CASES.values(), ids=CASES.keys())
def test_ess_bulk_matches_arviz(draws):
    expected = arviz.ess(draws, method="bulk")
    np.testing.assert_allclose(diagnostics.ess_bulk(draws), expected, rtol=RTOL)


@pytest.mark.parametrize("draws", CASES.values(), ids=CASES.keys())
def test_ess_tail_matches_arviz(draws):
    expected = arviz.ess(draws, method="tail")
    np.testing.assert_allclose(diagnostics.ess_tail(draws), expected, rtol=RTOL)


def test_several_parameters_give_one_value_each():
    draws = np.stack([case[:, :60] for case in list(CASES.values())[:4]], axis=2)
    for function, method in [
        (diagnostics.split_rhat, lambda x: arviz.rhat(x, method="rank")),
        (diagnostics.ess_bulk, lambda x: arviz.ess(x, method="bulk")),
        (diagnostics.ess_tail, lambda x: arviz.ess(x, method="tail")),
    ]:
        expected = [method(draws[:, :, i]) for i in range(4)]
        np.testing.assert_allclose(function(draws), expected, rtol=RTOL)
        assert function(draws[:, :, 0]).shape == ()


def test_tail_ess_uses_the_exact_quantile_where_arviz_rounds_below_it():
    # 861 draws: the 5% and 95% type-7 quantiles are exactly the order statistics 43 and
    # 817 (0-based). np.quantile (like R's quantile in the posterior package) returns
    # them; ArviZ's mquantiles computes 817.9999... and falls an ulp below the 95% one,
    # so its indicator misses that draw and its tail ESS differs (886.7 here).
    draws = _normal(0, (7, 123))
    ordered = np.sort(draws, axis=None)
    expected = min(arviz.ess((draws <= ordered[k]).astype(float), method="mean") for k in (43, 817))
    np.testing.assert_allclose(diagnostics.ess_tail(draws), expected, rtol=RTOL)
    assert diagnostics.ess_tail(draws) == pytest.approx(883.19, abs=0.01)


def test_single_chain_ess_matches_arviz_and_rhat_sees_a_trend():
    stationary = ar1(20, 1, 1000, 0.5)
    np.testing.assert_allclose(
        diagnostics.ess_bulk(stationary), arviz.ess(stationary, method="bulk"), rtol=RTOL
    )
    assert diagnostics.split_rhat(stationary) < 1.01
    assert diagnostics.split_rhat(stationary + np.linspace(0, 2, 1000)) > 1.1


def test_iid_draws_have_an_ess_near_their_number():
    draws = _normal(30, (4, 5000))
    assert diagnostics.ess_bulk(draws) == pytest.approx(20_000, rel=0.1)
    assert diagnostics.ess_tail(draws) == pytest.approx(20_000, rel=0.1)
    assert diagnostics.split_rhat(draws) == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_ar1_ess_is_n_times_one_minus_rho_over_one_plus_rho(rho):
    draws = ar1(31, 4, 20_000, rho, burn=5000)
    expected = draws.size * (1 - rho) / (1 + rho)
    assert diagnostics.ess_bulk(draws) == pytest.approx(expected, rel=0.1)


def test_constant_parameter_gives_nan_without_warnings():
    draws = np.full((4, 100), 0.25)
    assert np.isnan(diagnostics.split_rhat(draws))
    assert np.isnan(diagnostics.ess_bulk(draws))
    assert np.isnan(diagnostics.ess_tail(draws))


def test_chains_stuck_at_different_values_have_a_huge_rhat():
    draws = np.repeat(np.arange(4.0)[:, None], 100, axis=1)
    assert diagnostics.split_rhat(draws) > 1e3


def test_non_finite_draws_and_too_few_draws_give_nan():
    draws = _normal(40, (4, 100))
    draws[2, 10] = np.nan
    assert np.isnan(diagnostics.split_rhat(draws))
    draws[2, 10] = np.inf
    assert np.isnan(diagnostics.ess_bulk(draws))
    assert np.isnan(diagnostics.ess_tail(_normal(41, (4, 3))))


@pytest.mark.parametrize("shape", [(100,), (2, 3, 4, 5)])
def test_other_shapes_are_rejected(shape):
    with pytest.raises(ValueError, match=r"\(chains, draws\)"):
        diagnostics.split_rhat(np.zeros(shape))


def _draws(**parameters: np.ndarray) -> diagnostics.Summary:
    return diagnostics.summarize(np.stack(list(parameters.values()), axis=2), list(parameters))


def test_summary_statistics_and_table():
    draws = _normal(50, (4, 1000, 2)) * [1.0, 2.0] + [0.0, 5.0]
    summary = diagnostics.summarize(draws, ["beta", "gamma"])
    pooled = draws.reshape(-1, 2)
    np.testing.assert_allclose(summary.mean, pooled.mean(axis=0))
    np.testing.assert_allclose(summary.sd, pooled.std(axis=0, ddof=1))
    np.testing.assert_allclose(summary.q95, np.quantile(pooled, 0.95, axis=0))
    np.testing.assert_allclose(summary.rhat, diagnostics.split_rhat(draws))
    columns = summary.columns()
    assert tuple(columns) == diagnostics.STATISTICS
    assert all(column.shape == (2,) and column.dtype == float for column in columns.values())
    lines = summary.table().splitlines()
    assert lines[0].split() == ["parameter", *diagnostics.STATISTICS]
    assert [line.split()[0] for line in lines[1:]] == ["beta", "gamma"]


def test_summary_needs_one_name_per_parameter():
    with pytest.raises(ValueError, match="2 parameter names"):
        diagnostics.summarize(_normal(51, (4, 100, 3)), ["a", "b"])


def test_converged_chains_have_no_problems():
    summary = _draws(beta=_normal(60, (4, 1000)), gamma=ar1(61, 4, 1000, 0.3))
    assert diagnostics.problems(summary) == []


def test_chains_with_different_means_get_an_rhat_warning_naming_the_parameter():
    summary = _draws(beta=_normal(62, (4, 300)), gamma=CASES["different means"])
    rhat = summary.rhat[1]
    found = diagnostics.problems(summary)
    assert found[0] == f"gamma: R-hat {rhat:.4f} > 1.01: the chains have not mixed"
    assert rhat > 1.5
    assert all(line.startswith("gamma: ") for line in found)


def test_few_effective_draws_get_ess_warnings_against_100_per_chain():
    summary = _draws(beta=_normal(63, (4, 1000)), sigma=ar1(64, 4, 1000, 0.95))
    found = diagnostics.problems(summary)
    assert f"sigma: bulk ESS {summary.ess_bulk[1]:.0f} < 400: too few effective draws" in found
    assert all(line.startswith("sigma: ") for line in found)
    assert diagnostics.problems(summary, min_ess_per_chain=1.0, max_rhat=1.1) == []


def test_a_parameter_that_did_not_move_is_reported():
    summary = _draws(beta=_normal(65, (4, 1000)), fixed=np.full((4, 1000), 0.5))
    assert diagnostics.problems(summary) == [
        "fixed: did not move (every draw equals 0.5); R-hat and ESS undefined"
    ]


def test_non_finite_draws_and_too_few_draws_are_reported():
    broken = _normal(66, (4, 1000))
    broken[0, 0] = np.nan
    summary = _draws(beta=_normal(67, (4, 1000)), broken=broken)
    assert diagnostics.problems(summary) == [
        "broken: has non-finite draws (nan or inf); no diagnostics"
    ]
    short = diagnostics.summarize(_normal(68, (4, 3, 1)), ["beta"])
    assert diagnostics.problems(short) == [
        "only 3 draws per chain: at least 4 are needed for R-hat and ESS"
    ]
