"""Journeys' periodic work (kit.periodic), registered in JourneysConfig.ready()."""

from datetime import timedelta

from siyu.kit.periodic import periodic

from .engine import BUNDLE_WORK, CALL_WORK, run_due
from .entries import ENTRY_WORK, enter_due
from .sops import group_sops_make


@periodic("journey steps", every=5)
def journey_steps() -> int:
    # Steps come due by the clock (a wait ending), not only by a queued task: looked for often.
    return run_due()


@periodic("journey entries", every=60)
def journey_entries() -> int:
    return enter_due()


@periodic("group SOPs", every=600)
def group_sop_slots() -> int:
    # A day ahead, every ten minutes: a slot added or a calendar resumed is made in time.
    return group_sops_make()


@periodic("journeys sweep", sweep=True)
def journeys_sweep(older_than: timedelta) -> int:
    return BUNDLE_WORK.sweep(older_than=older_than) + CALL_WORK.sweep(older_than=older_than) + ENTRY_WORK.sweep(older_than=older_than)
