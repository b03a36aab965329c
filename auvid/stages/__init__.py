"""Pipeline stages, one small object each: detection, tracking, alignment, smoothing, calibration."""
