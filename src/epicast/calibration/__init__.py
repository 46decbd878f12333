"""Calibration: fitting a scenario's parameters to data by MCMC, one module per concept.

:mod:`~epicast.calibration.file`
    The calibration YAML file: scenario, data, targets, priors, sampler settings.
:mod:`~epicast.calibration.posterior`
    The compiled log posterior density of a calibration.
:mod:`~epicast.calibration.sampler`
    Adaptive random-walk Metropolis chains, resumable from checkpoints.
:mod:`~epicast.calibration.diagnostics`
    Posterior summaries and convergence diagnostics (split R-hat, bulk and tail ESS).
:mod:`~epicast.calibration.run`
    :func:`~epicast.calibration.run.calibrate`: the chains as tasks on an executor,
    checkpoints, and gathering them into a :class:`~epicast.calibration.run.CalibrationResult`.
:mod:`~epicast.calibration.placement`
    Where ``epicast calibrate --cluster`` runs the chains: in process or on a cluster.
"""
