"""Killing by contact, shared by the killer kinds (CD8 and NK cells, macrophages, CAR-T).

Two patterns, both on the mechanics clock, both rates per unit time:

* :func:`attach_and_kill`: a searching cell attaches to a partner in contact at rate
  ``k_on w φ(d)`` (competing clocks over its partners, :mod:`~spatialtumor.cells.contacts`);
  while attached it kills at a rate its kind computes, and it detaches at ``k_off``, when
  the target dies, goes, or moves beyond the contact distance, or after a kill.
* :func:`strike`: a cell acts on a partner in contact at rate ``k w φ(d)`` with no
  attachment (a macrophage eating a dead cell, killing a tumour cell).

When several cells succeed on one target in the same step, the one of smallest id is
credited (:func:`one_per_target`), so results do not depend on row or thread order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .contacts import find_partners


class ContactParams(BaseModel):
    """Keys of a kind acting on partners in contact (a base of its ``Params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    targets: list[str] = Field(default_factory=lambda: ["tumour"], description="kinds acted on")
    contact_full: float = Field(
        0.833, gt=0, description="full contact chance up to this distance / (r + r_partner)"
    )
    contact_max: float = Field(
        1.071, gt=0, description="no contact beyond this distance / (r + r_partner)"
    )

    @field_validator("contact_max")
    @classmethod
    def _beyond_full(cls, v, info: ValidationInfo):
        full = info.data.get("contact_full")
        if full is not None and not v > full:
            raise ValueError(f"contact_max must exceed contact_full ({full})")
        return v


class AttachParams(ContactParams):
    """Keys of a kind that attaches to targets and kills while attached."""

    attach_rate: float = Field(0.2, ge=0, description="attachment rate k_on in contact [1/min]")
    kill_rate: float = Field(0.0667, ge=0, description="killing rate while attached [1/min]")
    detach_rate: float = Field(1.0 / 60.0, ge=0, description="spontaneous detachment [1/min]")


def target_table(layer, targets):
    """(nk,) bool device table: True for the kinds named in ``targets``."""
    table = np.zeros(len(layer.kinds), dtype=bool)
    table[[layer.by_name[t].index for t in targets]] = True
    return layer.population.xp.asarray(table)


def contact_reach(kind, kinds, targets=None) -> float:
    """Longest centre distance [µm] at which ``kind`` meets a partner among ``kinds``
    (those named in ``targets``, or all kinds when None)."""
    partners = [k for k in kinds if targets is None or k.name in targets]
    r = max((k.body.radius for k in partners), default=0.0)
    return kind.params.contact_max * (kind.body.radius + r)


def one_per_target(xp, ids, targets, hit):
    """Indices (into ``hit``) of the successful cells of smallest id, one per target."""
    cand = xp.nonzero(hit)[0]
    if int(cand.shape[0]) == 0:
        return cand
    t = targets[cand]
    order = xp.lexsort(xp.stack([ids[cand], t]))
    t_sorted = t[order]
    first = xp.ones(order.shape[0], dtype=bool)
    first[1:] = t_sorted[1:] != t_sorted[:-1]
    return cand[order[first]]


@dataclass
class Engagement:
    """What :func:`attach_and_kill` did to the attached cells of one step.

    Attributes
    ----------
    rows : (M,) rows of the cells that were attached at the start of the step
    targets : (M,) their targets' rows (meaningless where ``ok`` is False)
    ok : (M,) the target was alive, recognisable and in reach: the step was spent attached
    killed : (M,) this cell killed its target this step (and was credited)
    leave : (M,) the cell detaches at the end of the step
    attached : rows that attached this step
    """

    rows: Any
    targets: Any
    ok: Any
    killed: Any
    leave: Any
    attached: Any


def attach_and_kill(
    ctx,
    events,
    kind,
    *,
    searching: int,
    engaged: int,
    weight,
    can_attach,
    kill_rate,
    buffers,
) -> Engagement:
    """One mechanics step of attachment, killing and detachment for the cells of ``kind``.

    Parameters
    ----------
    ctx, events : the step's context and events
    kind : the killer kind (its ``index``, ``name`` — recorded as the cause of its kills — and
        :class:`AttachParams` ``params``: k_on, k_off and the contact distances); its cells
        have a ``target_id`` column
    searching, engaged : its state codes for searching and attached cells
    weight : (N,) float64 — how strongly each row is a target (0: never) [1]
    can_attach : (N,) bool — cells that may attach now (searching and able)
    kill_rate : ``kill_rate(rows, targets) -> (M,)`` killing rate of attached cells [1/min]
    buffers : :func:`spatialtumor.cells.contacts.make_buffers` of the kind
    """
    layer = ctx.layer
    pop = ctx.population
    xp = ctx.xp
    dt = ctx.dt
    n = pop.size
    par: AttachParams = kind.params
    mine = layer.own(pop["alive"] & (pop["kind"] == kind.index))
    rows = xp.nonzero(mine & (pop["state"] == engaged))[0]
    m = int(rows.shape[0])
    empty = xp.zeros(m, dtype=bool)
    targets, ok, killed, leave, ids, hit = rows, empty, empty, empty, rows, empty
    if m:
        targets = xp.maximum(layer.neighbours.rows_of(pop["target_id"][rows]), -1)
        found = targets >= 0
        t = xp.maximum(targets, 0)
        # distance and radii in the working precision, compared in float64: exactly as
        # the contact search that attached the pair
        g = pop["position"][rows] - pop["position"][t]
        d = xp.sqrt(g[:, 0] * g[:, 0] + g[:, 1] * g[:, 1] + g[:, 2] * g[:, 2]).astype(np.float64)
        reach = par.contact_max * (pop["radius"][rows] + pop["radius"][t]).astype(np.float64)
        ok = found & (weight[t] > 0) & (d < reach)
        targets = t
        rate = xp.where(ok, kill_rate(rows, t), 0.0)
        ids = pop["id"][rows]
        hit = ok & (ctx.uniform(ids, "killing") < -xp.expm1(-rate * dt))
    if layer.remote_kills is not None:  # targets may be other processes' cells (collective)
        killed = layer.remote_kills(ctx, rows, targets, ids, hit, kind.name)
    elif m:
        win = one_per_target(xp, ids, targets, hit)
        killed = xp.zeros(m, dtype=bool)
        if int(win.shape[0]):
            done = layer.kill(ctx, targets[win], killers=rows[win], cause=kind.name)
            killed[win] = done
    if m:
        off = ctx.uniform(ids, "detachment") < -math.expm1(-par.detach_rate * dt)
        leave = ~ok | killed | off
        gone = xp.zeros(n, dtype=bool)
        gone[rows] = leave
        events.change_state(gone, searching)
        pop["target_id"][rows] = xp.where(leave, -1, pop["target_id"][rows])
    query = xp.nonzero(mine & can_attach & (pop["state"] == searching))[0]
    attached = query[:0]
    if int(query.shape[0]):
        p = find_partners(
            ctx, query, weight, par.contact_full, par.contact_max, "attachment", buffers
        )
        on = p.attached(par.attach_rate * dt)
        attached = query[on]
        if int(attached.shape[0]):
            mask = xp.zeros(n, dtype=bool)
            mask[attached] = True
            events.change_state(mask, engaged)
            pop["target_id"][attached] = pop["id"][p.pick[on]]
    return Engagement(rows, targets, ok, killed, leave, attached)


def strike(ctx, query, weight, rate, *, contact_full, contact_max, stream, buffers):
    """Partners acted on this step by the ``query`` rows, without attachment.

    Each query row picks a partner in contact by competing clocks at rate
    ``rate · w φ(d)`` [1/min] (``rate`` scalar or per query); one action per partner per
    step (the acting cell of smallest id). Returns ``(actors, partners)`` rows.
    """
    xp = ctx.xp
    pop = ctx.population
    query = xp.asarray(query, dtype=np.int64)
    if int(query.shape[0]) == 0:
        return query, query
    p = find_partners(ctx, query, weight, contact_full, contact_max, stream, buffers)
    acts = p.attached(rate * ctx.dt)
    win = one_per_target(xp, pop["id"][query], xp.maximum(p.pick, 0), acts)
    return query[win], p.pick[win]
