"""A history file's new orders in bulk: how `siyu orders import` and the console's import write.

While the importer checks the file, each good order goes into a staging table as the columns
`order_fields` makes of it (one COPY on PostgreSQL, executemany on SQLite). The file is parsed
once, and PostgreSQL takes the rows on its own core while Python reads on. One bad row and the
staging table is dropped: nothing was written.

When every row is good, staging is written into the real tables a chunk at a time, one
transaction each: customers matched by `customers_match`, keys taken, then orders, their refunds,
lines and timeline entries by INSERT … SELECT, and `OrdersImported` for the chunk. On PostgreSQL
two connections write chunks at once. A row whose order the corp already has (the file imported again,
or again after a crash between chunks), or whose refund is waiting for it, is known. A known order
that the row would leave exactly as it is stored is counted unchanged in the same pass, by
comparing staging with the stored rows in SQL; the rest are left to the per-order upsert, which
the importer runs for those rows afterwards. Customers' values are brought up to date once, at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from threading import Lock

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction

from siyu.corps.models import Corp
from siyu.customers.models import Customer, CustomerPhone, TimelineEvent
from siyu.kit.clock import now
from siyu.kit.db import commit_unflushed, statistics_refresh
from siyu.kit.events import publish

from . import services
from .events import OrdersImported
from .models import Order, OrderLine, Refund

log = logging.getLogger(__name__)


@dataclass
class Written:
    """What one chunk did: its new orders' (key, customer); the places of the known orders left to
    the per-order upsert, with their stored order's customer; the customers of the known orders it
    leaves as they are (None for an unmatched one)."""

    stored: list[tuple[int, int | None]]
    known: dict[int, int | None]
    unchanged: list[int | None]

    @property
    def looked(self) -> bool:
        return bool(self.known or self.unchanged)


@dataclass
class Outcome:
    created: int = 0
    matched: int = 0
    unchanged: int = 0
    known: set[int] = field(default_factory=set)  # places in the file, for the per-order upsert
    customers: set[int] = field(default_factory=set)  # of every order written or known

    def add(self, other: Outcome) -> Outcome:
        """`other` added into this one, in place: a 30M-order file has hundreds of chunks, and
        its sets of customers grow to millions, which a copy per chunk would copy each time."""
        self.created += other.created
        self.matched += other.matched
        self.unchanged += other.unchanged
        self.known |= other.known
        self.customers |= other.customers
        return self


WRITERS = 2  # connections writing chunks at once on PostgreSQL
DEADLOCK_TRIES = 5
STAGE_BATCH = 5000  # staged rows sent together on SQLite
REBUILD_FROM = 20_000  # orders in a file from which every customer's value is rebuilt, not each touched one

ORDER_COLUMNS = [
    "corp_id",
    "source",
    "order_no",
    "customer_id",
    "external_userid",
    "unionid",
    "phone",
    "paid_at",
    "paid_on",
    "amount_fen",
    "refunded_fen",
    "store",
    "coupon_code",
    "mall_code",
    "staff_id",
]
LINE_BLANK = (None,) * 14  # a line's row leaves the order's columns empty

# One table for orders and their lines, so that one COPY streams the whole file. n: the order's
# place in the file; k: 0 for the order, 1… for its lines (which fill only n, k and the line's
# columns). A file's order has at most one refund. customer_id and order_id are set when written.
STAGED = [c for c in ORDER_COLUMNS if c != "customer_id"] + ["n", "k", "refund_no", "refunded_at", "sku", "name", "quantity", "line_fen"]
MORE_COLUMNS = {
    "n": OrderLine._meta.get_field("quantity"),
    "k": OrderLine._meta.get_field("quantity"),
    "order_id": Order._meta.get_field("amount_fen"),
    "refund_no": Refund._meta.get_field("refund_no"),
    "refunded_at": Refund._meta.get_field("refunded_at"),
    "sku": OrderLine._meta.get_field("sku"),
    "name": OrderLine._meta.get_field("name"),
    "quantity": OrderLine._meta.get_field("quantity"),
    "line_fen": OrderLine._meta.get_field("amount_fen"),
}


# A stored order that a staged row `s` would leave exactly as it is: what `order_upsert` finds
# unchanged (and the importer's `_unchanged` in Python), as SQL over the chunk. Its columns; no
# refund waiting for it; its refunds adding up to its refunded amount and holding the file's one
# as it is; and, where the file has lines, the same lines in the same order (the stored ones
# ranked by key).
UNCHANGED = """o.id IS NOT NULL
    AND o.external_userid = s.external_userid AND o.unionid = s.unionid AND o.phone = s.phone AND o.paid_at = s.paid_at
    AND o.paid_on = s.paid_on AND o.amount_fen = s.amount_fen AND o.store = s.store AND o.coupon_code = s.coupon_code
    AND o.mall_code = s.mall_code AND (o.staff_id = s.staff_id OR (o.staff_id IS NULL AND s.staff_id IS NULL))
    AND NOT EXISTS (SELECT 1 FROM orders_refund r WHERE r.corp_id = s.corp_id AND r.source = s.source AND r.order_no = s.order_no
                    AND r.order_id IS NULL)
    AND (SELECT COALESCE(SUM(r.amount_fen), 0) FROM orders_refund r WHERE r.order_id = o.id) = o.refunded_fen
    AND (s.refund_no IS NULL OR EXISTS (SELECT 1 FROM orders_refund r WHERE r.order_id = o.id AND r.refund_no = s.refund_no
                                        AND r.amount_fen = s.refunded_fen AND r.refunded_at = s.refunded_at))
    AND (NOT EXISTS (SELECT 1 FROM {staging} l WHERE l.n = s.n AND l.k > 0) OR (
        (SELECT COUNT(*) FROM orders_orderline ol WHERE ol.order_id = o.id) = (SELECT COUNT(*) FROM {staging} l WHERE l.n = s.n AND l.k > 0)
        AND NOT EXISTS (SELECT 1 FROM {staging} l WHERE l.n = s.n AND l.k > 0 AND NOT EXISTS (
            SELECT 1 FROM orders_orderline ol WHERE ol.order_id = o.id AND ol.sku = l.sku AND ol.name = l.name AND ol.quantity = l.quantity
            AND ol.amount_fen = l.line_fen
            AND (SELECT COUNT(*) FROM orders_orderline earlier WHERE earlier.order_id = o.id AND earlier.id <= ol.id) = l.k))))"""


def chunk_size() -> int:
    """Staged orders per write transaction: SQLite's one writer waits for the whole of it."""
    return 50_000 if connection.vendor == "postgresql" else 5_000


class Staging:
    """One import's staging table: on SQLite a temporary one, on PostgreSQL an unlogged one of its
    own (the chunks may be written by other connections).

    On PostgreSQL one COPY stays open while the file is read, so the server stores rows on its
    own core as Python parses the next ones. Nothing else may use the connection meanwhile: the
    staff cache is filled beforehand, customers are matched when written, and a progress report
    pauses the COPY first."""

    def __init__(self, corp: Corp) -> None:
        self.corp = corp
        self.pending: list = []
        self.count = 0
        self.started = now()
        self.postgres = connection.vendor == "postgresql"
        self._copy = self._copying = None
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute("SELECT pg_get_serial_sequence('orders_order', 'id')")
                self.sequence = cursor.fetchone()[0]
                # Named by this connection's process; one left by a process that died is dropped
                # by the next import.
                cursor.execute("SELECT pg_backend_pid()")
                self.table = f"orders_staging_{cursor.fetchone()[0]}"
                cursor.execute(
                    "SELECT relname FROM pg_class WHERE relname LIKE 'orders\\_staging\\_%%' AND relkind = 'r' AND relpersistence = 'u' "
                    "AND substr(relname, 16) NOT IN (SELECT pid::text FROM pg_stat_activity)"
                )
                for (left,) in cursor.fetchall():
                    cursor.execute(f"DROP TABLE IF EXISTS {left}")
                kind = "UNLOGGED"
            else:
                self.table, kind = "orders_staging", "TEMPORARY"
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            # The real tables' own column types, without their constraints or indexes.
            cursor.execute(f"CREATE {kind} TABLE {self.table} AS SELECT {', '.join(ORDER_COLUMNS)} FROM orders_order WHERE 1 = 0")
            for column, model_field in MORE_COLUMNS.items():
                cursor.execute(f"ALTER TABLE {self.table} ADD COLUMN {column} {model_field.db_type(connection)}")

    def add(self, data: services.OrderIn, staff_cache: dict) -> None:
        fields = services.order_fields(self.corp, data, staff_cache)
        n = self.count
        self.count += 1
        refund = data.refunds[0] if data.refunds else None
        rows = [
            (
                self.corp.pk,
                data.source,
                data.order_no,
                fields["external_userid"],
                fields["unionid"],
                fields["phone"],
                fields["paid_at"],
                fields["paid_on"],
                fields["amount_fen"],
                sum(r.amount_fen for r in data.refunds),
                fields["store"],
                fields["coupon_code"],
                fields["mall_code"],
                fields["staff_id"],
                n,
                0,
                refund.refund_no if refund else None,
                # A history file's refund without a time of its own is dated at its order's payment.
                (refund.refunded_at or data.paid_at) if refund else None,
                None,
                None,
                None,
                None,
            )
        ]
        rows += [(*LINE_BLANK, n, k, None, None, *line) for k, line in enumerate(services.line_values(data.lines or []), start=1)]
        if self.postgres:
            if self._copy is None:
                connection.ensure_connection()
                self._copy_cursor = connection.connection.cursor()
                self._copying = self._copy_cursor.copy(f"COPY {self.table} ({', '.join(STAGED)}) FROM STDIN")
                self._copy = self._copying.__enter__()
            for row in rows:
                self._copy.write_row(row)
            return
        self.pending += rows
        if len(self.pending) >= STAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        ops = connection.ops
        times, day = (STAGED.index("paid_at"), STAGED.index("refunded_at")), STAGED.index("paid_on")
        rows = [
            tuple(ops.adapt_datetimefield_value(v) if i in times else ops.adapt_datefield_value(v) if i == day else v for i, v in enumerate(row))
            for row in self.pending
        ]
        self.pending = []
        with connection.cursor() as cursor:
            self._send(cursor, self.table, STAGED, rows)

    def _send(self, cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
        if self.postgres:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif rows:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})", rows)

    def pause(self) -> None:
        """Ends the COPY under way, so that the connection can be used (a progress report); the
        next order starts another. A query sent while a COPY is open would wait for it forever."""
        copying, self._copy, self._copying = self._copying, None, None
        if copying is not None:
            copying.__exit__(None, None, None)
            self._copy_cursor.close()

    def drop(self) -> None:
        """Gone, also on the way out of a failed import (whose own error is the one to tell)."""
        self.pending = []
        try:
            self.pause()  # what was staged goes with the table
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        except DatabaseError:
            log.warning("the order import's staging table is left to the end of the connection", exc_info=True)

    def write(self, on_progress: Callable[[int], None] | None = None) -> Outcome:
        """Staging into the real tables."""
        self.pause()
        self.flush()
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX {self.table}_n ON {self.table} (n, k)")
            if self.postgres:
                cursor.execute(f"ANALYZE {self.table}")
        step = chunk_size()
        starts = list(range(0, self.count, step))
        # A first import finds none of its orders stored: a chunk is inserted without looking, and
        # a conflict (the file again, an order the API stored meanwhile) undoes it and looks. The
        # chunks after one with known orders look first. Refunds waiting for orders are not
        # conflicts: while the corp has any, every chunk looks.
        careful = Refund.objects.filter(corp=self.corp, order__isnull=True).exists()
        progress = Lock()
        done = [0]

        def chunks(mine: list[int]) -> Outcome:
            outcome = Outcome()
            looking = careful
            for start in mine:
                for attempt in range(DEADLOCK_TRIES):
                    try:
                        with transaction.atomic():
                            commit_unflushed()  # a chunk lost in a crash is written again by the next run
                            written = None
                            if not looking:
                                try:
                                    with transaction.atomic():
                                        written = self._write_chunk(start, start + step, look=False)
                                except IntegrityError:
                                    looking = True
                            if written is None:
                                written = self._write_chunk(start, start + step, look=True)
                                looking = written.looked
                            if written.stored:
                                publish(OrdersImported(corp=self.corp, order_ids=tuple(order_id for order_id, _ in written.stored)))
                        break
                    except OperationalError as exc:
                        # Two chunks' subscribers locking the same customers' rows (points, levels)
                        # in other orders: the one PostgreSQL stopped is written again.
                        if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == DEADLOCK_TRIES - 1:
                            raise
                        log.info("order import chunk %s met a deadlock; written again", start)
                outcome.add(
                    Outcome(
                        created=len(written.stored),
                        matched=sum(1 for _, c in written.stored if c is not None) + sum(1 for c in written.unchanged if c is not None),
                        unchanged=len(written.unchanged),
                        known=set(written.known),
                        customers={c for _, c in written.stored if c is not None} | {c for c in written.known.values() if c is not None},
                    )
                )
                with progress:
                    done[0] += min(step, self.count - start)
                    if on_progress:
                        on_progress(done[0])
            return outcome

        def on_its_own_connection(mine: list[int]) -> Outcome:
            try:
                return chunks(mine)
            finally:
                connection.close()  # this thread's

        # PostgreSQL writes with one server process a chunk: while Python waits on one, another
        # core can write the next. Not inside a caller's transaction (the other connections
        # would not see what it holds), nor on SQLite, whose one writer takes them in turn.
        if self.postgres and not connection.in_atomic_block and len(starts) > 1:
            with ThreadPoolExecutor(WRITERS) as pool:
                return reduce(Outcome.add, pool.map(on_its_own_connection, [starts[i::WRITERS] for i in range(WRITERS)]), Outcome())
        return chunks(starts)

    def _write_chunk(self, start: int, end: int, *, look: bool) -> Written:
        """The chunk's new orders into the real tables; with `look`, those the corp has (or has
        refunds waiting for) are left out, and those of them the file leaves as they are counted."""
        stamp = now()
        chunk = "s.k = 0 AND s.n >= %s AND s.n < %s"
        known = ""
        if look:
            known = """AND NOT EXISTS (SELECT 1 FROM orders_order o WHERE o.corp_id = s.corp_id AND o.source = s.source AND o.order_no = s.order_no)
                AND NOT EXISTS (SELECT 1 FROM orders_refund r WHERE r.corp_id = s.corp_id AND r.source = s.source AND r.order_no = s.order_no
                                AND r.order_id IS NULL)
                AND NOT EXISTS (SELECT 1 FROM orders_refund r WHERE r.corp_id = s.corp_id AND r.source = s.source AND r.refund_no = s.refund_no)"""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT s.n, s.external_userid, s.unionid, s.phone FROM {self.table} s WHERE {chunk} {known} ORDER BY s.n", [start, end])
            fresh = cursor.fetchall()
            # Each new order's key, and the customer it names; a table of its own, not columns of
            # staging (an update there would write every staged row again).
            customers = services.customers_match(self.corp, [tuple(row[1:]) for row in fresh])
            if self.postgres:
                cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self.sequence, len(fresh)])
                keys = [row[0] for row in cursor.fetchall()]
            else:
                # SQLite has no sequence to take keys from: past the highest ever given (this
                # transaction holds the database's one write lock, so none is given meanwhile).
                cursor.execute(
                    "SELECT MAX(k) FROM (SELECT seq AS k FROM sqlite_sequence WHERE name = 'orders_order' UNION ALL SELECT MAX(id) FROM orders_order)"
                )
                first = (cursor.fetchone()[0] or 0) + 1
                keys = list(range(first, first + len(fresh)))
            cursor.execute("DROP TABLE IF EXISTS orders_staging_new")
            cursor.execute(
                "CREATE TEMPORARY TABLE orders_staging_new AS "
                f"SELECT n, CAST(n AS bigint) AS order_id, CAST(n AS bigint) AS customer_id FROM {self.table} WHERE 1 = 0"
            )
            rows = [(row[0], key, customer_id) for row, key, customer_id in zip(fresh, keys, customers, strict=True)]
            self._send(cursor, "orders_staging_new", ["n", "order_id", "customer_id"], rows)
            stored = [(key, customer_id) for _n, key, customer_id in rows]
            new = f"FROM {self.table} s JOIN orders_staging_new c ON c.n = s.n WHERE {chunk}"
            columns = [f"c.{c}" if c == "customer_id" else f"s.{c}" for c in ORDER_COLUMNS]
            cursor.execute(
                f"INSERT INTO orders_order (id, {', '.join(ORDER_COLUMNS)}, created_at, updated_at) "
                f"SELECT c.order_id, {', '.join(columns)}, %s, %s {new} ORDER BY s.n",
                [stamp, stamp, start, end],
            )
            cursor.execute(
                "INSERT INTO orders_refund (corp_id, source, refund_no, order_no, order_id, amount_fen, refunded_at, created_at) "
                f"SELECT s.corp_id, s.source, s.refund_no, s.order_no, c.order_id, s.refunded_fen, s.refunded_at, %s {new} AND s.refunded_fen > 0 ORDER BY s.n",
                [stamp, start, end],
            )
            # Linked to their products by SKU, as `order_line_rows` links them.
            cursor.execute(
                "INSERT INTO orders_orderline (corp_id, order_id, product_id, sku, name, quantity, amount_fen) "
                "SELECT s.corp_id, c.order_id, p.id, l.sku, l.name, l.quantity, l.line_fen "
                f"FROM {self.table} l JOIN orders_staging_new c ON c.n = l.n JOIN {self.table} s ON s.n = l.n AND {chunk} "
                "LEFT JOIN orders_product p ON p.corp_id = s.corp_id AND p.sku = l.sku AND l.sku <> '' "
                "WHERE l.k > 0 AND l.n >= %s AND l.n < %s ORDER BY l.n, l.k",
                [start, end, start, end],
            )
            # The entry `orders_timeline` makes of a matched order.
            data = "jsonb_build_object" if self.postgres else "json_object"
            cursor.execute(
                "INSERT INTO customers_timelineevent (corp_id, customer_id, kind, staff_id, occurred_at, data, dedupe_key) "
                f"SELECT s.corp_id, c.customer_id, %s, NULL, s.paid_at, {data}('order_no', s.order_no, 'source', s.source, "
                f"'amount_fen', s.amount_fen, 'store', s.store), 'order:' || c.order_id {new} AND c.customer_id IS NOT NULL ORDER BY s.n",
                [TimelineEvent.Kind.ORDER.value, start, end],
            )
            known: dict[int, int | None] = {}
            unchanged: list[int | None] = []
            if look:
                same = UNCHANGED.format(staging=self.table)
                cursor.execute(
                    f"SELECT s.n, o.customer_id, CASE WHEN {same} THEN 1 ELSE 0 END, s.external_userid, s.unionid, s.phone FROM {self.table} s "
                    "LEFT JOIN orders_order o ON o.corp_id = s.corp_id AND o.source = s.source AND o.order_no = s.order_no "
                    f"WHERE {chunk} AND NOT EXISTS (SELECT 1 FROM orders_staging_new c WHERE c.n = s.n)",
                    [start, end],
                )
                found = cursor.fetchall()
                # An unmatched order is left as it is only while its keys still name nobody.
                alone = [row for row in found if row[2] and row[1] is None]
                named = {row[0] for row, customer_id in zip(alone, services.customers_match(self.corp, [row[3:] for row in alone]), strict=True) if customer_id}
                for n, customer_id, as_is, *_keys in found:
                    if as_is and n not in named:
                        unchanged.append(customer_id)
                    else:
                        known[n] = customer_id
            cursor.execute("DROP TABLE orders_staging_new")
        return Written(stored, known, unchanged)

    def finish(self, customer_ids: set[int], *, created: int) -> None:
        """Orders of customers who arrived while the file was written, matched; then values."""
        corp_id = self.corp.pk
        arrived = list(Customer.objects.filter(corp_id=corp_id, created_at__gte=self.started))
        if arrived:
            phones: dict[int, list[str]] = {}
            for customer_id, phone in CustomerPhone.objects.filter(customer__in=arrived).values_list("customer_id", "phone"):
                phones.setdefault(customer_id, []).append(phone)
            with transaction.atomic():
                services.orders_match_customers(corp_id=corp_id, customers=arrived, phones=phones)
        if self.count < REBUILD_FROM:
            with transaction.atomic():
                services.customer_values_refresh(corp_id=corp_id, customer_ids=customer_ids)
            return
        # Rebuilt in one statement, not order by order in Python; not at all when nothing written
        # names a customer (a file imported again: its changed orders refreshed their customers'
        # values as they were upserted).
        if customer_ids:
            services.customer_values_rebuild(corp=self.corp)  # which refreshes the values' statistics
        if created:
            statistics_refresh(Order, TimelineEvent, Refund)
