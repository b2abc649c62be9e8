"""Messaging's periodic work (kit.periodic), registered in MessagingConfig.ready()."""

from siyu.kit.periodic import periodic

from .mass_sends import mass_sends_sweep, staff_sends_mirror_due
from .moments import moments_sweep
from .services import group_welcomes_sweep, welcomes_sweep, welcomes_take_over

periodic("welcome sweep", every=60)(welcomes_sweep)
# Welcomes have 20 seconds: the take-over cannot wait for the minute.
periodic("welcome take-over", every=1)(welcomes_take_over)
periodic("group welcome sweep", sweep=True)(group_welcomes_sweep)
periodic("mass send sweep", sweep=True)(mass_sends_sweep)
periodic("staff sends mirror", every=3600)(staff_sends_mirror_due)
periodic("moments sweep", sweep=True)(moments_sweep)
