"""Cell biology: one module per cell kind's fate rules."""
