"""Customers' periodic work (kit.periodic), registered in CustomersConfig.ready()."""

from siyu.kit.periodic import periodic

from .stages import stages_due

# A lifecycle stage counts days: once a corp's day turns, its customers are placed again.
periodic("lifecycle stages", every=3600)(stages_due)
