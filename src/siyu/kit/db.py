"""Database housekeeping that several domains need after writing in bulk."""

from django.db import connection


def statistics_refresh(*models, sampled: bool = True) -> None:
    """Fresh planner statistics for these tables after a bulk write changed them.

    Without them the planner keeps the old picture (or none: SQLite never gathers them by itself)
    and may walk a whole corp's rows where an index on the customer would do. `sampled` reads a
    sample of each index on SQLite (analysis_limit), so it stays quick on tens of millions of rows;
    exact statistics read every index whole.
    """
    with connection.cursor() as cursor:
        sqlite = connection.vendor == "sqlite"
        if sqlite and sampled:
            cursor.execute("PRAGMA analysis_limit = 2000")
        try:
            for model in models:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        finally:
            if sqlite and sampled:
                cursor.execute("PRAGMA analysis_limit = 0")  # the setting outlives this call on a kept connection
