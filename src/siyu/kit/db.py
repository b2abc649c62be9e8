"""Database housekeeping that several domains need when writing in bulk."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Lookup
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable
from django.utils import timezone


def this_connection():
    """The thread's connection itself, not Django's `connection` proxy: each attribute read
    through the proxy looks the connection up again (about 6 µs), and a few rows' writing reads
    it a hundred times. For the hot paths' helpers, read once at their start."""
    return connections[DEFAULT_DB_ALIAS]


def locked_row(rows: models.QuerySet, make: Callable[[], models.Model]) -> models.Model:
    """The one row of `rows`, locked until the transaction ends, made by `make()` (an unsaved row,
    or an exception that refuses) when there is none: one statement when it exists. Two callers
    making it at once: the second insert is ignored, and its lock waits for the first's commit."""
    row = rows.select_for_update().first()
    if row is None:
        rows.model.objects.bulk_create([make()], ignore_conflicts=True)
        row = rows.select_for_update().get()
    return row


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
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {name}")  # the statements reading it are planned from its real size
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {name}")


def commit_unflushed() -> None:
    """The current transaction's commit will not wait for its write-ahead log to reach the disk
    (PostgreSQL's `synchronous_commit = off`, for this transaction only). For bulk work that is
    redone if lost: a crash may lose the last such commits, never part of one, and never one that
    a later, flushed commit came after (the log is written in order). The wait for the flush is
    much of the cost of committing thousands of changed rows a second."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def bulk_memory(megabytes: int = 64) -> None:
    """More memory for this transaction's sorts and hashes (PostgreSQL's `work_mem`, for this
    transaction only). A bulk plan over a million rows needs its `NOT IN (subquery)` hashed: with
    the default 4 MB PostgreSQL may judge the hash too big and run the subquery once per row,
    which turns seconds into hours."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{int(megabytes)}MB'")


def first_shared(rows: models.QuerySet) -> tuple | None:
    """The first row of a `values_list` queryset, locked FOR SHARE until the transaction ends on
    PostgreSQL (Django's ORM locks only FOR UPDATE): many transactions may hold it at once, and an
    update of it waits for them all. On SQLite the IMMEDIATE transaction already serialises writers."""
    sql, params = rows[:1].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} FOR SHARE" if connection.vendor == "postgresql" else sql, params)
        return cursor.fetchone()


def set_clause(model, values: dict) -> tuple[str, list] | None:
    """`values` (field name → value) as an UPDATE's SET list and its parameters, each value
    prepared as the ORM's UPDATE prepares it (a row of a foreign key as its key). For a statement
    on a hot path written out once (kit.due's claim and finish of one row), where building it with
    the ORM costs more than running it. None when a value is an expression or a field has a
    placeholder of its own: those only the ORM writes."""
    connection = this_connection()  # not the proxy: read on every value
    parts, params = [], []
    for name, value in values.items():
        field = model._meta.get_field(name)
        if hasattr(value, "resolve_expression") or hasattr(field, "get_placeholder"):
            return None
        if field.remote_field and hasattr(value, "prepare_database_save"):
            value = value.prepare_database_save(field)
        parts.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    return ", ".join(parts), params


def insert_many(model, fields: list[str], rows: list[tuple], *, ignore_conflicts: bool = False, batch: int = 1000, returning: bool = False) -> list | None:
    """Rows as tuples straight into the model's table, without a model instance each: for writes of
    millions of small rows (a journey's steps), where bulk_create's per-row Python is most of the
    time. With `ignore_conflicts` a row a unique constraint already holds is left out.

    On PostgreSQL, more than 100 rows go by COPY (or, ignoring conflicts, as one array a column,
    unnested); a few rows by a statement prepared once per connection. Elsewhere, one multi-row
    INSERT per `batch` rows (a round trip per row is what executemany costs), values prepared as
    the fields prepare them. With `returning`, the new rows' primary keys in the rows' order (by
    multi-row INSERTs, whose RETURNING keeps their order); with `ignore_conflicts` too, only the
    written rows' keys, so for one row at a time (whether it was written: one key or none)."""
    connection = this_connection()  # not the proxy: read on every value
    if returning and ignore_conflicts and len(rows) > 1:
        raise ValueError("returning with ignore_conflicts leaves gaps: one row at a time")
    if not rows:
        return [] if returning else None
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [model._meta.get_field(name) for name in fields]
    names = ", ".join(connection.ops.quote_name(c.column) for c in columns)
    one = f"({', '.join(['%s'] * len(columns))})"
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    prepared = [c if isinstance(c, (models.DateField, models.JSONField, models.UUIDField)) else None for c in columns]
    back = f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}" if returning else ""
    memo: dict = {}  # a batch's rows mostly share their times: each prepared once

    def value(field, v):
        if field is None or v is None:
            return v
        if isinstance(field, models.JSONField):
            return field.get_db_prep_save(v, connection)
        key = (field.column, v)
        if key not in memo:
            memo[key] = field.get_db_prep_save(v, connection)
        return memo[key]

    if connection.vendor == "postgresql" and len(rows) > 100 and not returning and not any(isinstance(c, models.JSONField) for c in columns):
        if not ignore_conflicts:
            # COPY: the rows stream to the server in one statement, adapted in psycopg's C code.
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # One array a column, unnested: a statement of a few parameters, not one per value (which
        # psycopg would parse and Django prepare one by one).
        types = ", ".join(f"%s::{c.db_type(connection)}[]" for c in columns)
        with connection.cursor() as cursor:
            for chunk in in_chunks(rows, 50_000):
                cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({types}) ON CONFLICT DO NOTHING", [list(col) for col in zip(*chunk)])
        return
    keys: list = []
    if connection.vendor == "postgresql":
        # A few rows on a hot path (the enrollments an add callback makes): bound on the server
        # and prepared once per connection, so PostgreSQL plans the statement once, not per call.
        connection.ensure_connection()
        # Django's own error classes (IntegrityError for a unique key broken), as its cursors raise.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            for chunk in in_chunks(rows, 100):
                params = [value(p, v) for row in chunk for p, v in zip(prepared, row)]
                cursor.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))}{conflict}{back}", params, prepare=True)
                if returning:
                    keys += [r[0] for r in cursor.fetchall()]
        return keys if returning else None
    with connection.cursor() as cursor:
        for chunk in in_chunks(rows, batch):
            params = [value(p, v) for row in chunk for p, v in zip(prepared, row)]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))}{conflict}{back}", params)
            if returning:
                keys += [r[0] for r in cursor.fetchall()]
    return keys if returning else None


def insert_objects(objs: list[models.Model], *, if_new: bool = False) -> list[models.Model]:
    """bulk_create for plain rows (no expressions, no signals) at insert_many's cost: the field
    values as they are, their times set as auto_now and auto_now_add would, each row's primary
    key set from the insert (or written, when the row brings its own). A unique constraint broken
    raises IntegrityError, as bulk_create does; with `if_new` (one row) it is not written and the
    list comes back empty: a repeat found without a savepoint (two statements more, with their
    round trips, for each row a callback writes)."""
    if not objs:
        return objs
    if if_new and len(objs) != 1:
        raise ValueError("if_new writes one row")
    model, stamp = type(objs[0]), timezone.now()
    # A key the database gives is left out and read back; one the row brings (a UUID) is written.
    auto = isinstance(model._meta.pk, models.AutoField | models.BigAutoField | models.SmallAutoField)
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and auto) and not f.generated]
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                if field.auto_now or getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, stamp)
    rows = [tuple(getattr(o, f.attname) for f in fields) for o in objs]
    keys = insert_many(model, [f.attname for f in fields], rows, returning=auto or if_new, ignore_conflicts=if_new)
    if if_new and not keys:
        return []
    for obj, key in zip(objs, keys if auto else [o.pk for o in objs], strict=True):
        obj.pk = key
        obj._state.adding, obj._state.db = False, connection.alias
    return objs


class CompiledQuery:
    """A queryset turned into SQL once per thread and run with new values each call: for the few
    reads on a hot path (an add's corp, its welcome and staff member), where the ORM's building
    of a query costs several times its running (about 230 µs against 30 µs for a row by its key
    on SQLite). The rows come back as the ORM gives them: instances (`from_db`, values converted
    as the fields convert them) or `values_list` tuples, flat or not.

        STAFF = CompiledQuery(lambda corp, userid: Staff.objects.filter(corp_id=corp, userid=userid).values_list("pk", "name")[:1], int, str)
        STAFF.first(corp.pk, "zhangsan")

    `build` gets one stand-in value a parameter, of the type named for it (str or int), and the
    SQL keeps their places: each call puts its values there. A value a field would prepare
    otherwise (a date, a row for a key) is not accepted: pass its string or its key. Querysets
    that fetch related rows or annotate are refused, as is a stand-in the SQL does not carry
    as it is (a string the lookup rewrote, as `__contains` does)."""

    def __init__(self, build: Callable[..., models.QuerySet], *types: type):
        if any(t not in (str, int) for t in types):
            raise TypeError("CompiledQuery's parameters are str or int")
        self.build, self.types = build, types
        self._local = threading.local()  # a compiler belongs to its thread's connection

    def _stand_ins(self) -> list:
        # Values no real row holds and no lookup changes, found again by equality in the SQL's parameters.
        # (An int within a 32-bit field's range: Django compiles a lookup outside it to no SQL at all.)
        return [f"\x00siyu-{i}\x00" if t is str else 2_147_000_000 + i for i, t in enumerate(self.types)]

    def _compiled(self):
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._compile()
        return compiled

    def _compile(self):
        queryset = self.build(*self._stand_ins())
        kind = queryset._iterable_class
        if kind not in (ModelIterable, ValuesListIterable, FlatValuesListIterable) or queryset.query.annotation_select or queryset.query.extra_select:
            raise ValueError("CompiledQuery runs plain model or values_list querysets")
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        places = []
        for stand_in in self._stand_ins():
            at = [i for i, p in enumerate(params) if type(p) is type(stand_in) and p == stand_in]
            if not at:
                raise ValueError(f"a parameter is not in the SQL as it was given: {sql}")
            places.append(at)
        select = compiler.select[: compiler.col_count]
        converters = list(compiler.get_converters([s[0] for s in select]).items())
        make = None
        if kind is ModelIterable:
            info = compiler.klass_info
            if info.get("related_klass_infos"):
                raise ValueError("CompiledQuery does not fetch related rows")
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            names, model, db = [s[0].target.attname for s in select[start:end]], info["model"], queryset.db

            def make(row):
                return model.from_db(db, names, row[start:end])

        elif kind is FlatValuesListIterable:

            def make(row):
                return row[0]

        return sql, list(params), places, converters, make

    def rows(self, *values) -> list:
        connection = this_connection()  # not the proxy: read for every value converted
        sql, params, places, converters, make = self._compiled()
        if len(values) != len(self.types) or any(type(v) is not t for v, t in zip(values, self.types)):
            raise TypeError(f"CompiledQuery takes {[t.__name__ for t in self.types]}, not {[type(v).__name__ for v in values]}")
        params = list(params)
        for at, value in zip(places, values):
            for i in at:
                params[i] = value
        if connection.vendor == "postgresql":
            # Bound on the server and prepared once per connection, as insert_many's few rows are.
            connection.ensure_connection()
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
                fetched = cursor.fetchall()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                fetched = cursor.fetchall()
        if converters:
            fetched = [list(row) for row in fetched]
            for row in fetched:
                for i, (functions, expression) in converters:
                    for convert in functions:
                        row[i] = convert(row[i], expression, connection)
        return [make(row) for row in fetched] if make else [tuple(row) for row in fetched]

    def first(self, *values):
        """The first row, or None: the queryset names its order and, to read one row, its `[:1]`."""
        found = self.rows(*values)
        return found[0] if found else None


class AnyOf(Lookup):
    """`field__any_of=[…]`: a list of keys (numbers, or strings for a text field) as one array
    parameter on PostgreSQL (`= ANY(%s)`), an `IN (…)` elsewhere. For the few-thousand-key filters
    of batch work, where an `__in`'s parameters, prepared by Django and parsed by psycopg one by
    one, cost more than the query."""

    lookup_name = "any_of"
    prepare_rhs = False

    def _text(self) -> bool:
        return isinstance(self.lhs.output_field, (models.CharField, models.TextField))

    def get_prep_lookup(self):
        return [str(v) for v in self.rhs] if self._text() else [int(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*params, *self.rhs]

    def as_postgresql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::{'text' if self._text() else 'bigint'}[])", [*params, list(self.rhs)]


models.IntegerField.register_lookup(AnyOf)
models.ForeignObject.register_lookup(AnyOf)
models.CharField.register_lookup(AnyOf)
