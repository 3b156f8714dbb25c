"""NumPy reference of the fused mechanics move: the specification of ``kernels/motility.cu``.

It is the NumPy path of :class:`spatialtumor.mechanics.Mechanics` itself, written out as one
call: the direction rule of :func:`~spatialtumor.mechanics.update_directions`, the gradient
of :func:`~spatialtumor.exchange.gradient_at`, then forward Euler with
:func:`~spatialtumor.mechanics.limit_displacement` and
:func:`~spatialtumor.mechanics.apply_walls`. Vectorised over cells; the only loop runs over
the attractant fields.
"""

from __future__ import annotations

import numpy as np


def move_cells(
    position,
    direction,
    velocity,
    ids,
    kind,
    state,
    alive,
    radius,
    persistence,
    bias,
    kind_field,
    class_speed,
    slots,
    fields,
    origin,
    spacing,
    dt,
    max_displacement,
    lower,
    upper,
    walls,
    seed,
    step,
):
    """Switch motility directions, then move every cell by one mechanics step, in place.

    Parameters
    ----------
    position : (N, 3) — cell centres [µm], moved in place
    direction : (N, 3) — unit motility directions (0 = none yet) [-], updated in place
    velocity : (N, 3) — velocity from the pair forces [µm/min] (read only)
    ids : (N,) int64 — cell ids (keys of the draws)
    kind : (N,) int16 — kind index; state : (N,) int8 — state index
    alive : (N,) bool — dead rows neither switch nor move
    radius : (N,) — radii [µm]; a move is at most ``max_displacement × radius``
    persistence : (nk,) — persistence time τ per kind [min]
    bias : (nk,) — weight w of the gradient in a new direction per kind [-]
    kind_field : (nk,) int64 — field (index into ``fields``) each kind climbs, −1 for none
    class_speed : (nk · slots,) — speed of each (kind, state) class [µm/min]
    slots : int — states per kind in the class table
    fields : (nf, nz, ny, nx) or None — the fields; None: no chemotaxis at all
    origin, spacing : (x, y, z) — lower corner and voxel edges of the fields [µm]
    dt : float — mechanics step [min]
    max_displacement : float — largest move relative to the radius [-]
    lower, upper : (x, y, z) — box the centres stay in [µm]
    walls : "reflect" or "clamp"
    seed, step : keys of the counter-based draws (streams ``motility_switch`` and
        ``motility_direction``)

    Notes
    -----
    A live cell switches with probability ``min(1, dt/τ)`` (always without a direction) to
    ``e`` uniform on the sphere, or with ``fields`` to ``normalise((1 − w) e + w ∇c/|∇c|)``,
    ``∇c`` the central-difference gradient of its kind's field at its voxel (0 for kinds
    without one). Then ``dx = (v + speed_class · alive · direction) dt · alive``, limited to
    ``max_displacement · r``; ``x ← x + dx`` and the walls. Positions and directions are in
    the working precision, the uniforms in float64.
    """
    from ..exchange import class_codes, gradient_at
    from ..mechanics import apply_walls, limit_displacement, update_directions

    kinds = kind.astype(np.int64)
    gradient = None
    if fields is not None:
        gradient = np.zeros(position.shape, dtype=position.dtype)
        kf = np.asarray(kind_field, dtype=np.int64)
        per_row = kf[kinds]
        for f in np.unique(kf[kf >= 0]):
            g = gradient_at(np, fields[int(f)], position, origin, spacing)
            gradient = np.where((per_row == f)[:, None], g, gradient)
    update_directions(
        np,
        direction,
        ids,
        kinds,
        alive,
        dt=float(dt),
        persistence=persistence,
        bias=bias,
        gradient=gradient,
        seed=int(seed),
        step=int(step),
    )
    cls = class_codes(np, kind, state, int(slots)).astype(np.int64)
    dx = velocity + (class_speed[cls] * alive)[:, None] * direction
    dx *= float(dt)
    dx *= alive[:, None]
    limit_displacement(np, dx, radius, float(max_displacement))
    position += dx
    apply_walls(np, position, lower, upper, walls)
