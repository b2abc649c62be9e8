"""The groups domain's periodic work (kit.periodic), registered in GroupsConfig.ready()."""

from siyu.kit.periodic import periodic

from .codes import group_codes_refresh_due

periodic("group codes", every=60)(group_codes_refresh_due)
