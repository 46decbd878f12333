"""Numba-compiled kernels: the whole integration loop of the SEIR equations.

Everything here takes plain arrays, so other compiled code (the calibration
sampler) can call :func:`integrate` without returning to Python. The equations
and the integration scheme are those of :mod:`epicast.reference`, the readable
NumPy oracle the tests compare with.

Integrator
----------
The embedded Runge–Kutta pair of Dormand & Prince (1980), order 5 with an
order-4 error estimate, "first same as last", with adaptive steps and the
continuous extension of Hairer, Nørsett & Wanner (1993) for the daily outputs.
The step is chosen so that the RMS over the state of the local error, each
component scaled by ``ATOL + RTOL * max(|y|, |y_new|)``, stays below one (HNW
1993, II.4, eqs. 4.11–4.13); the first trial step is the scenario's
``time.step``. Steps never cross the start or end of an intervention, where
the right-hand side jumps, nor a day of a contact series, where the slope of
its multiplier changes. 1345 right-hand side evaluations integrate the
16-age scenario over a year to 2e-7 of each compartment's peak (the classical
RK4 with quarter-day steps needed 5840 for 9e-8, and its cost per evaluation
was higher).

- J. R. Dormand and P. J. Prince, "A family of embedded Runge-Kutta
  formulae", J. Comput. Appl. Math. 6 (1980) 19–26 (tableau ``DP_*``).
- E. Hairer, S. P. Nørsett and G. Wanner, *Solving Ordinary Differential
  Equations I*, 2nd ed., Springer 1993: II.4 (step size control), II.6 and
  the code DOPRI5 (dense output coefficients ``DP_DENSE``, error ``DP_ERROR``).

State layout
------------
One parameter set's state has shape (N_STATE, G): S, E, I, R and two
cumulative flows, infections (S -> E) and onsets of infectiousness (E -> I),
from which daily incidence and notifications are differenced. For an SIR
model ``latent`` is False, E stays 0 and infection leads straight to I.
Inside :func:`integrate` the state is flat, component (v, i) at ``v * G + i``,
so that the stage updates are single loops that vectorise.

Reproducibility and speed
-------------------------
No fast-math: every sum is evaluated in the order written, so results are
bit-identical whatever the SIMD width or the number of threads. The force of
infection is accumulated four source groups at a time, ``f_i += (C_ij x_j +
C_ij+1 x_j+1) + (C_ij+2 x_j+2 + C_ij+3 x_j+3)``, a fixed order that vectorises
over the target group i. The hot loop creates no array views and calls no
function taking arrays (helpers are inlined by Numba): a view or an argument
costs two atomic reference-count updates, which cost more than the arithmetic
here and serialised the threads of :func:`integrate_batch`. For the same
reason no loop only fills an array with zeros (LLVM turns it into a ``memset``
call, which stops Numba from removing the reference counts).

Compile time
------------
A new environment compiles :func:`integrate` once (then numba's cache serves
it). Two numpy conveniences cost more to compile than the whole loop and are
written as element loops instead: ``transpose`` with axes (about 4 s) and any
whole-array assignment such as ``a[0] = b`` (about 2 s: its shape-mismatch
error compiles numba's string formatting). Each ``inline="always"`` helper is
typed and compiled again at every call site, so each is called from as few
places as the loop allows: the right-hand side from two (the stages inside the
step, and its end, which also serves the evaluation at a step's start after a
breakpoint), the stage update and the step's result each from one.

A contact series, contacts by setting and vaccination are arguments that are
None when a scenario does not use them, and numba compiles a specialisation
without their code: a scenario without them runs the same instructions as
before they existed (docs/benchmarks.md counts them), and a scenario with one
compiles its own specialisation the first time.

Numba caches the compiled code on disk (``cache=True``), keyed by the content
of epicast's sources rather than where they are installed, so a new
environment with the same epicast compiles nothing (:mod:`epicast._jit`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from epicast._jit import OPTIONS

S, E, I, R, CUM_INFECTIONS, CUM_ONSETS = range(6)
N_STATE = 6
N_DYNAMIC = 3  # S, E, I: the rows the rates depend on (stages compute only these)
# With vaccination or waning immunity (the ``vaccine`` argument), rows for the vaccinated:
# dosed but not yet protected, protected, protection waned; exposed, infectious and
# recovered vaccinated people; and two more cumulative flows, the infections of protected
# people (breakthrough) and the doses given.
V_WAITING, V, V_WANED, E_V, I_V, R_V, CUM_BREAKTHROUGH, CUM_DOSES = range(6, 14)
N_STATE_VACCINE = 14

RTOL = 1e-7
"""Relative tolerance of the local error per step."""
ATOL = 1e-6
"""Absolute tolerance of the local error per step, people."""
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 10.0
"""Step size control: h_new = h * clip(SAFETY * err^(-1/5), FAC_MIN, FAC_MAX)."""
MAX_STEPS = 100_000
"""Give up (outputs NaN) after this many steps: non-finite rates, or periods too short for
the time span (scenario validation refuses those, :func:`epicast.scenario._check_steps`)."""

# Dormand & Prince (1980), table 2 (DOPRI5): row s holds the coefficients of
# stage s on the stages before it; the last row holds the 5th-order weights b
# (its state is the step's result: "first same as last"). DP_C holds the nodes:
# stage s is at t + c_s h (the multiplier of a contact series depends on t).
DP_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0.0],
        [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
    ]
)
# Local error estimate b5 - b4 over the 7 stages, and the coefficients of the
# order-4 continuous extension (HNW 1993, DOPRI5: e1..e7 and d1..d7).
DP_ERROR = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
DP_DENSE = np.array(
    [
        -12715105075 / 11282082432,
        0.0,
        87487479700 / 32700410799,
        -10690763975 / 1880347072,
        701980252875 / 199316789632,
        -1453857185 / 822651844,
        69997945 / 29380423,
    ]
)
N_STAGES = 7
DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])


@njit(inline="always", **OPTIONS)
def _rates(
    y,
    beta,
    sigma,
    gamma,
    latent,
    contacts_by_source,
    multiplier,
    contact_slope,
    vaccine,
    segment,
    elapsed,
    inv_population,
    work,
    k,
    s,
):
    """Write dy/dt of the flat state ``y`` into row ``s`` of ``k``.

    ``contacts_by_source[segment, j, i]`` is C_ij (per day) of the segment in
    force; ``beta`` per contact-day, ``sigma`` and ``gamma`` per day. The force
    of infection on group i is multiplied by ``multiplier[segment, 0, i] +
    multiplier[segment, 1, i] * elapsed``, ``elapsed`` days into the segment
    (``multiplier`` is None without a contact series: numba then compiles the
    kernel without this code, which costs nothing and changes no number).
    ``work`` is scratch of shape (2, G): the infectious share I_j / N_j and the
    contact-weighted sum sum_j C_ij I_j / N_j. ``contact_slope[segment, j, i]``
    is the change of C_ij per day within the segment (a contact series by
    setting), or None. ``vaccine`` is None, or the vaccination of
    :func:`_vaccine_rates`. Numba compiles each combination of None and not
    None apart.
    """
    n_groups = inv_population.size
    for i in range(n_groups):
        infectious = y[I * n_groups + i]
        if vaccine is not None:
            infectious += y[I_V * n_groups + i]
        work[0, i] = infectious * inv_population[i]
        work[1, i] = 0.0
    first_rest = n_groups - n_groups % 4
    for j in range(0, first_rest, 4):
        x0, x1, x2, x3 = work[0, j], work[0, j + 1], work[0, j + 2], work[0, j + 3]
        for i in range(n_groups):
            work[1, i] += (
                contacts_by_source[segment, j, i] * x0 + contacts_by_source[segment, j + 1, i] * x1
            ) + (
                contacts_by_source[segment, j + 2, i] * x2
                + contacts_by_source[segment, j + 3, i] * x3
            )
    for j in range(first_rest, n_groups):
        xj = work[0, j]
        for i in range(n_groups):
            work[1, i] += contacts_by_source[segment, j, i] * xj
    if contact_slope is not None:  # contacts by setting, changing within the segment
        for j in range(n_groups):
            xj = work[0, j] * elapsed
            for i in range(n_groups):
                work[1, i] += contact_slope[segment, j, i] * xj
    if multiplier is not None:  # a contact series: scale the sum, not the loop below
        for i in range(n_groups):
            work[1, i] *= multiplier[segment, 0, i] + multiplier[segment, 1, i] * elapsed
    if vaccine is not None:
        _vaccine_rates(y, beta, sigma, gamma, latent, vaccine, segment, work, k, s, n_groups)
    else:
        for i in range(n_groups):
            infections = beta * work[1, i] * y[S * n_groups + i]
            onsets = sigma * y[E * n_groups + i] if latent else infections
            recoveries = gamma * y[I * n_groups + i]
            k[s, S * n_groups + i] = -infections
            k[s, E * n_groups + i] = infections - onsets
            k[s, I * n_groups + i] = onsets - recoveries
            k[s, R * n_groups + i] = recoveries
            k[s, CUM_INFECTIONS * n_groups + i] = infections
            k[s, CUM_ONSETS * n_groups + i] = onsets


@njit(**OPTIONS)
def _vaccine_rates(y, beta, sigma, gamma, latent, vaccine, segment, work, k, s, n_groups):
    """Write dy/dt of a state with vaccinated rows into row ``s`` of ``k``.

    Called, not inlined: inlined, its code was copied into every compiled
    right-hand side before numba dropped it from those without vaccination,
    and a first run of a scenario without vaccination compiled 0.8 s longer.
    The call's reference counts cost vaccinated runs nothing measurable.

    ``work[1]`` holds the contact-weighted infectious share of every group (the
    vaccinated infectious included). ``vaccine`` is ``(doses, efficacy,
    protection, vaccine_waning, infection_waning)``: doses per day per segment
    and group (K, G), the efficacy against infection, the rate of protection
    after a dose (inf: at once) and the rates at which vaccine and infection
    immunity wane, per day. Doses go to the unvaccinated (S, E, I, R) of a group
    in proportion to their numbers.
    """
    doses, efficacy, protection, vaccine_waning, infection_waning = vaccine
    for i in range(n_groups):
        force = beta * work[1, i]
        susceptible = y[S * n_groups + i]
        exposed = y[E * n_groups + i]
        infectious = y[I * n_groups + i]
        recovered = y[R * n_groups + i]
        unvaccinated = susceptible + exposed + infectious + recovered
        dosing = doses[segment, i] / unvaccinated if unvaccinated > 0.0 else 0.0
        waiting = y[V_WAITING * n_groups + i]
        protected = y[V * n_groups + i]
        waned = y[V_WANED * n_groups + i]
        infections = force * susceptible
        breakthrough = (1.0 - efficacy) * force * protected
        vaccinated_infections = force * (waiting + waned) + breakthrough
        onsets = sigma * exposed if latent else infections
        vaccinated_onsets = sigma * y[E_V * n_groups + i] if latent else vaccinated_infections
        recoveries = gamma * infectious
        vaccinated_recoveries = gamma * y[I_V * n_groups + i]
        if protection == np.inf:  # protected at once
            protecting, to_waiting = dosing * susceptible, 0.0
        else:
            protecting, to_waiting = protection * waiting, dosing * susceptible
        losing = vaccine_waning * protected
        relapsing = infection_waning * recovered
        vaccinated_relapsing = infection_waning * y[R_V * n_groups + i]
        k[s, S * n_groups + i] = relapsing - infections - dosing * susceptible
        k[s, E * n_groups + i] = infections - onsets - dosing * exposed
        k[s, I * n_groups + i] = onsets - recoveries - dosing * infectious
        k[s, R * n_groups + i] = recoveries - relapsing - dosing * recovered
        k[s, V_WAITING * n_groups + i] = to_waiting - protecting - force * waiting
        k[s, V * n_groups + i] = protecting - breakthrough - losing
        k[s, V_WANED * n_groups + i] = losing + vaccinated_relapsing - force * waned
        k[s, E_V * n_groups + i] = vaccinated_infections - vaccinated_onsets + dosing * exposed
        k[s, I_V * n_groups + i] = vaccinated_onsets - vaccinated_recoveries + dosing * infectious
        k[s, R_V * n_groups + i] = vaccinated_recoveries - vaccinated_relapsing + dosing * recovered
        k[s, CUM_INFECTIONS * n_groups + i] = infections + vaccinated_infections
        k[s, CUM_ONSETS * n_groups + i] = onsets + vaccinated_onsets
        k[s, CUM_BREAKTHROUGH * n_groups + i] = breakthrough
        k[s, CUM_DOSES * n_groups + i] = dosing * unvaccinated


@njit(inline="always", **OPTIONS)
def _stage(stage, y, h, k, s, n):
    """Set ``stage[:n] = y[:n] + h * sum_m DP_A[s, m] * k[m, :n]`` (state of stage ``s``, 1 to 5).

    One loop per stage with its terms written out: the loop over the
    components then vectorises, which a loop over m inside it would prevent.
    """
    if s == 1:
        for q in range(n):
            stage[q] = y[q] + h * (DP_A[s, 0] * k[0, q])
    elif s == 2:
        for q in range(n):
            stage[q] = y[q] + h * (DP_A[s, 0] * k[0, q] + DP_A[s, 1] * k[1, q])
    elif s == 3:
        for q in range(n):
            stage[q] = y[q] + h * (
                DP_A[s, 0] * k[0, q] + DP_A[s, 1] * k[1, q] + DP_A[s, 2] * k[2, q]
            )
    elif s == 4:
        for q in range(n):
            stage[q] = y[q] + h * (
                DP_A[s, 0] * k[0, q]
                + DP_A[s, 1] * k[1, q]
                + DP_A[s, 2] * k[2, q]
                + DP_A[s, 3] * k[3, q]
            )
    else:
        for q in range(n):
            stage[q] = y[q] + h * (
                DP_A[s, 0] * k[0, q]
                + DP_A[s, 1] * k[1, q]
                + DP_A[s, 2] * k[2, q]
                + DP_A[s, 3] * k[3, q]
                + DP_A[s, 4] * k[4, q]
            )


@njit(inline="always", **OPTIONS)
def _solution(y_new, y, h, k):
    """Set ``y_new = y + h * sum_m DP_A[6, m] * k[m]``, the step's 5th-order result (a[1] is 0)."""
    s = N_STAGES - 1
    for q in range(y.size):
        y_new[q] = y[q] + h * (
            DP_A[s, 0] * k[0, q]
            + DP_A[s, 2] * k[2, q]
            + DP_A[s, 3] * k[3, q]
            + DP_A[s, 4] * k[4, q]
            + DP_A[s, 5] * k[5, q]
        )


@njit(inline="always", **OPTIONS)
def _error_norm(y, y_new, h, k, scratch, n):
    """RMS of the local error estimate over ``y[:n]``, scaled by ATOL + RTOL * max(|y|, |y_new|)."""
    for q in range(n):
        error = h * (
            DP_ERROR[0] * k[0, q]
            + DP_ERROR[2] * k[2, q]
            + DP_ERROR[3] * k[3, q]
            + DP_ERROR[4] * k[4, q]
            + DP_ERROR[5] * k[5, q]
            + DP_ERROR[6] * k[6, q]
        )
        scratch[q] = error / (ATOL + RTOL * max(abs(y[q]), abs(y_new[q])))
    # Sum of squares in a fixed order: four interleaved partial sums, then pairwise.
    # (One running sum would be a chain of n dependent additions.)
    s0 = s1 = s2 = s3 = 0.0
    n4 = n - n % 4
    for q in range(0, n4, 4):
        s0 += scratch[q] * scratch[q]
        s1 += scratch[q + 1] * scratch[q + 1]
        s2 += scratch[q + 2] * scratch[q + 2]
        s3 += scratch[q + 3] * scratch[q + 3]
    for q in range(n4, n):
        s0 += scratch[q] * scratch[q]
    return np.sqrt(((s0 + s1) + (s2 + s3)) / n)


@njit(inline="always", **OPTIONS)
def _dense_coefficients(dense, y, y_new, h, k):
    """Write the coefficients of the step's continuous extension into ``dense`` (4, n).

    Called once for a step that passes output days, however many it passes.
    """
    for q in range(y.size):
        change = y_new[q] - y[q]
        spline = h * k[0, q] - change
        dense[0, q] = change
        dense[1, q] = spline
        dense[2, q] = change - h * k[6, q] - spline
        dense[3, q] = h * (
            DP_DENSE[0] * k[0, q]
            + DP_DENSE[2] * k[2, q]
            + DP_DENSE[3] * k[3, q]
            + DP_DENSE[4] * k[4, q]
            + DP_DENSE[5] * k[5, q]
            + DP_DENSE[6] * k[6, q]
        )


@njit(inline="always", **OPTIONS)
def _dense_output(out, row, y, dense, theta):
    """Write the continuous extension at ``t + theta * h`` (0 < theta <= 1) into ``out[row]``."""
    for q in range(y.size):
        out[row, q] = y[q] + theta * (
            dense[0, q]
            + (1.0 - theta) * (dense[1, q] + theta * (dense[2, q] + (1.0 - theta) * dense[3, q]))
        )


@njit(**OPTIONS)
def integrate(
    y0,
    beta,
    sigma,
    gamma,
    latent,
    segment_start,
    segment_contacts,
    segment_multiplier,
    segment_contact_slope,
    vaccine,
    inv_population,
    t_start,
    n_days,
    first_step,
    out,
):
    """Integrate one parameter set, writing the state at every whole day.

    Parameters
    ----------
    y0 : ndarray, shape (N_STATE, G) or (N_STATE_VACCINE, G)
        State at ``t_start``, people (cumulative rows usually 0).
    beta : float
        Transmission probability per contact-day.
    sigma, gamma : float
        1 / latent period and 1 / infectious period, per day (``sigma`` unused
        when ``latent`` is False).
    latent : bool
        True for SEIR, False for SIR.
    segment_start : ndarray, shape (K,)
        Day each contact segment starts, sorted; ``segment_start[0] == t_start``.
    segment_contacts : ndarray, shape (K, G, G)
        C_ij, daily contacts of a person in group i with group j, per segment.
    segment_multiplier : ndarray, shape (K, 2, G), or None
        Per segment, the multiplier of the force of infection on each group at
        its start (row 0) and its change per day (row 1): a contact series,
        linear between its days; None without one.
    segment_contact_slope : ndarray, shape (K, G, G), or None
        Per segment, the change per day of the contacts, by source ([k, j, i] is
        that of C_ij): a contact series by setting; None without one.
    vaccine : tuple or None
        Vaccination and waning (:func:`_vaccine_rates`), or None: then the state
        has the N_STATE rows; with it, N_STATE_VACCINE.
    inv_population : ndarray, shape (G,)
        1 / people per age group.
    t_start : float
        First day.
    n_days : int
        Number of days to integrate.
    first_step : float
        First trial step, days; later steps adapt to the tolerances.
    out : ndarray, shape (n_days + 1, *y0.shape)
        Receives the state at t_start, t_start + 1, ..., t_start + n_days.

    Returns
    -------
    int
        Number of right-hand side evaluations. If the step size control fails
        (only with non-finite rates) the remaining outputs are NaN.
    """
    n_groups = inv_population.size
    n = y0.size
    # the rows the rates depend on: S, E, I; with vaccination all (R, and more, too)
    n_dynamic = N_DYNAMIC * n_groups if vaccine is None else n
    # Element loops, not `transpose` or whole-array assignment: those numpy
    # overloads cost seconds of compiling (see "Compile time" above).
    contacts = np.empty(segment_contacts.shape)
    for c in range(segment_contacts.shape[0]):
        for i in range(n_groups):
            for j in range(n_groups):
                contacts[c, j, i] = segment_contacts[c, i, j]
    flat_out = out.reshape(out.shape[0], n)
    y = y0.copy().reshape(n)
    y_new = np.empty(n)
    stage = np.empty(n)
    k = np.empty((N_STAGES, n))
    work = np.empty((2, n_groups))
    dense = np.empty((4, n))
    for q in range(n):
        flat_out[0, q] = y[q]

    t = t_start
    t_end = t_start + n_days
    h = first_step
    day = 1
    segment = 0
    evaluations = 0
    steps = 0
    rejected = False
    restart = True  # k[0] must be evaluated: at the start and after each breakpoint
    last = N_STAGES - 1  # the stage at the step's end, y_new
    while day <= n_days and steps < MAX_STEPS:
        # At the start and after a breakpoint, k[0] = f(y) is needed first: it is
        # evaluated at the step's end (y_new = y, a step of length 0), so that the
        # right-hand side is compiled at two call sites instead of three.
        if restart:
            for q in range(n):
                y_new[q] = y[q]
        else:
            stop = (
                min(segment_start[segment + 1], t_end)
                if segment + 1 < segment_start.size
                else t_end
            )
            to_stop = t + h >= stop  # never step over the end of a segment
            if to_stop:
                h = stop - t
            elapsed = t - segment_start[segment]
            for s in range(1, N_STAGES - 1):
                _stage(stage, y, h, k, s, n_dynamic)
                _rates(
                    stage,
                    beta,
                    sigma,
                    gamma,
                    latent,
                    contacts,
                    segment_multiplier,
                    segment_contact_slope,
                    vaccine,
                    segment,
                    elapsed + DP_C[s] * h,
                    inv_population,
                    work,
                    k,
                    s,
                )
            _solution(y_new, y, h, k)
            evaluations += N_STAGES - 2
        _rates(
            y_new,
            beta,
            sigma,
            gamma,
            latent,
            contacts,
            segment_multiplier,
            segment_contact_slope,
            vaccine,
            segment,
            t - segment_start[segment] + (0.0 if restart else h),
            inv_population,
            work,
            k,
            last,
        )
        evaluations += 1
        if restart:
            for q in range(n):
                k[0, q] = k[last, q]
            restart = False
            continue
        steps += 1
        error = _error_norm(y, y_new, h, k, stage, n)
        if not error <= 1.0:  # rejected (or NaN)
            if not np.isfinite(error):
                break
            h *= max(FAC_MIN, SAFETY * error**-0.2)
            rejected = True
            continue
        t_new = stop if to_stop else t + h
        if day <= n_days and t_start + day <= t_new:
            _dense_coefficients(dense, y, y_new, h, k)
        while day <= n_days and t_start + day <= t_new:
            _dense_output(flat_out, day, y, dense, (t_start + day - t) / h)
            day += 1
        growth = FAC_MAX if error == 0.0 else min(FAC_MAX, max(FAC_MIN, SAFETY * error**-0.2))
        if rejected:
            growth = min(growth, 1.0)
            rejected = False
        if to_stop and stop < t_end:  # the contact matrix changes here
            segment += 1
            restart = True
        else:
            for q in range(n):
                k[0, q] = k[last, q]  # first same as last
        for q in range(n):
            y[q] = y_new[q]
        t = t_new
        h *= growth
    for d in range(day, n_days + 1):
        for q in range(n):
            flat_out[d, q] = np.nan
    return evaluations


@njit(**OPTIONS)
def daily_counts(out, reporting_fraction):
    """Turn the cumulative rows of one run's ``out`` (T, N_STATE, G) into counts per day.

    In place, so that a batch needs no second pass over its outputs: afterwards
    row ``CUM_INFECTIONS`` holds the infections of the day ending at each output
    time and row ``CUM_ONSETS`` the notifications, ``reporting_fraction`` times
    that day's onsets of infectiousness (both 0 on the first day).
    """
    for d in range(out.shape[0] - 1, 0, -1):
        for i in range(out.shape[2]):
            out[d, CUM_INFECTIONS, i] -= out[d - 1, CUM_INFECTIONS, i]
            onsets = out[d, CUM_ONSETS, i] - out[d - 1, CUM_ONSETS, i]
            out[d, CUM_ONSETS, i] = onsets * reporting_fraction
    for i in range(out.shape[2]):
        out[0, CUM_INFECTIONS, i] = 0.0
        out[0, CUM_ONSETS, i] = 0.0


@njit(parallel=True, **OPTIONS)
def integrate_batch(
    y0,
    beta,
    sigma,
    gamma,
    latent,
    segment_start,
    segment_contacts,
    segment_multiplier,
    segment_contact_slope,
    vaccine,
    inv_population,
    t_start,
    n_days,
    first_step,
    reporting_fraction,
    out,
):
    """Run :func:`integrate` then :func:`daily_counts` for B parameter sets in parallel threads.

    ``beta``, ``sigma``, ``gamma`` have shape (B,); ``out`` has shape
    (B, n_days + 1, N_STATE, G); the other arguments are as for
    :func:`integrate` and :func:`daily_counts`. Each set is computed exactly as
    by a single run, so results do not depend on the number of threads or on
    the other sets. Counting days in the same thread, while the set's outputs
    are still in its core's cache, saves a pass over the whole batch's outputs.
    Returns the number of right-hand side evaluations per set, shape (B,).

    Runs take different times (adaptive steps): call it under
    ``numba.parallel_chunksize(1)`` to hand out one set at a time to whichever
    thread is free (numba cannot cache a function that sets this itself).
    """
    evaluations = np.zeros(beta.size, dtype=np.int64)
    for b in prange(beta.size):
        evaluations[b] = integrate(
            y0,
            beta[b],
            sigma[b],
            gamma[b],
            latent,
            segment_start,
            segment_contacts,
            segment_multiplier,
            segment_contact_slope,
            vaccine,
            inv_population,
            t_start,
            n_days,
            first_step,
            out[b],
        )
        daily_counts(out[b], reporting_fraction)
    return evaluations
