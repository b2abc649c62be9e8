"""The port's periodic work (kit.periodic), registered in WecomConfig.ready()."""

from siyu.kit.periodic import periodic

from .services import callbacks_requeue_stale
from .sync import syncs_due, syncs_sweep

periodic("callback sweep", sweep=True)(callbacks_requeue_stale)
periodic("sync schedule", every=60, order=10)(syncs_due)
periodic("sync sweep", sweep=True)(syncs_sweep)
