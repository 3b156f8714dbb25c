"""Cells without rules: they push, move and exchange with fields, nothing else (beads,
stroma, or any kind whose biology lies outside the model)."""

from __future__ import annotations

from ..cells import Kind


class Inert(Kind):
    model = "inert"
    states = ("live",)
    colour = (0.60, 0.60, 0.60)
    description = "mechanics, motility and exchange only"
