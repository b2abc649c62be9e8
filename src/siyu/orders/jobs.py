"""Orders' periodic work (kit.periodic), registered in OrdersConfig.ready()."""

from siyu.kit.periodic import periodic

from .importer import order_imports_sweep

periodic("order import sweep", sweep=True)(order_imports_sweep)
