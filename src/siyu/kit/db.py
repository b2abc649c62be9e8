"""Database housekeeping that several domains need when writing in bulk."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def in_chunks(items: list, size: int = 5000) -> Iterator[list]:
    """Lists short enough for one `IN (…)` (SQLite takes at most 32,766 parameters a statement)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


@contextmanager
def scratch_table(name: str, sql: str, params: list) -> Iterator[str]:
    """A temporary table holding the answer to `sql`, for several statements to read without
    computing it again (a bulk fan-out's one choice, then its inserts). Use inside a transaction:
    a failure rolls the table back with the rest; on success it is dropped on the way out."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {sql}", params)
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {name}")
