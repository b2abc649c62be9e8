"""Guide tasks' periodic work (kit.periodic), registered in GuidesConfig.ready()."""

from siyu.kit.periodic import periodic

from .behaviour import behaviour_due
from .handover import handovers_sweep
from .services import active_reported_tasks_refresh, active_tag_tasks_refresh, guide_tasks_sweep

periodic("guide tasks sweep", sweep=True)(guide_tasks_sweep)
periodic("handovers sweep", sweep=True)(handovers_sweep)
# Tags set in WeCom's own app reach Siyu by sync and callbacks, not as Siyu's event: looked for.
periodic("guide tag tasks", every=600)(active_tag_tasks_refresh)
# WeCom counts a day once it is over: the days missing are looked for every hour.
periodic("staff behaviour data", every=3600)(behaviour_due)
# What guides sent from WeCom's mass-send assistant, or posted to moments, arrives with the result pulls: looked for.
periodic("guide tasks WeCom reports on", every=600)(active_reported_tasks_refresh)
