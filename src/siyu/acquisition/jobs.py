"""Acquisition's periodic work (kit.periodic), registered in AcquisitionConfig.ready()."""

from siyu.kit.periodic import periodic

from .phone_import import phone_imports_sweep
from .services import live_codes_refresh_due

periodic("live codes", every=60)(live_codes_refresh_due)
periodic("phone import sweep", sweep=True)(phone_imports_sweep)
