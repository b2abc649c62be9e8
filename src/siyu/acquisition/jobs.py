"""Acquisition's periodic work (kit.periodic), registered in AcquisitionConfig.ready()."""

from siyu.kit.periodic import periodic

from .services import live_codes_refresh_due, welcomes_sweep, welcomes_take_over

periodic("live codes", every=60)(live_codes_refresh_due)
periodic("welcome sweep", every=60)(welcomes_sweep)
# Welcomes have 20 seconds: the take-over cannot wait for the minute.
periodic("welcome take-over", every=1)(welcomes_take_over)
