"""Acquisition's periodic work (kit.periodic), registered in AcquisitionConfig.ready()."""

from siyu.kit.periodic import periodic

from .services import live_codes_refresh_due

periodic("live codes", every=60)(live_codes_refresh_due)
