"""Unit constants. spatialtumor measures length in micrometres (µm) and time in minutes (min)."""

um = 1.0
mm = 1000.0
cm = 10000.0
minute = 1.0
hour = 60.0
day = 1440.0
second = 1.0 / 60.0

#: 1e-7 cm²/s expressed in µm²/min (a common unit for tissue diffusivities).
diffusivity_1e7_cm2_per_s = 600.0
