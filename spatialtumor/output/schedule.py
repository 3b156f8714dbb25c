"""When a writer is due: every ``every`` minutes of simulated time, and at the stop step."""

from __future__ import annotations


class Schedule:
    """Output schedule in whole diffusion steps.

    Parameters
    ----------
    every : interval between records [min]; rounded to a whole number (≥ 1) of diffusion steps

    Notes
    -----
    Due when ``step_index % round(every / dt_diffusion) == 0`` or when ``step_index`` is the
    run's stop step, and never twice at the same step.
    """

    def __init__(self, every: float):
        every = float(every)
        if not every > 0:
            raise ValueError(f"output interval 'every' must be > 0 min, got {every}")
        self.every = every
        self.last_step: int | None = None

    def steps(self, dt_diffusion: float) -> int:
        """Diffusion steps between records (≥ 1)."""
        return max(1, int(round(self.every / dt_diffusion)))

    def due(self, sim) -> bool:
        step = int(sim.step_index)
        if step == self.last_step:
            return False
        if step % self.steps(sim.clock.dt_diffusion) == 0:
            return True
        return step == int(sim.stop_step)

    def mark(self, sim) -> None:
        """Record that the state at ``sim.step_index`` has been written."""
        self.last_step = int(sim.step_index)
