"""Analytics' periodic work (kit.periodic), registered in AnalyticsConfig.ready()."""

from siyu.kit.periodic import periodic

from .lifetime import clv_refresh_due

periodic("clv refit", every=60, order=90)(clv_refresh_due)
