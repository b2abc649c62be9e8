"""A history file's new orders in bulk: how `siyu orders import` and the console's import write.

While the importer checks the file, each good order goes into a temporary staging table as the
columns `order_fields` makes of it, its customer matched by `customers_match` a few thousand at a
time (COPY on PostgreSQL, executemany on SQLite). The file is parsed once, and PostgreSQL takes
the rows on its own core while Python reads on. One bad row and the staging table is dropped:
nothing was written.

When every row is good, staging is written into the real tables a chunk at a time, one
transaction each, by INSERT … SELECT: orders, their refunds, lines and timeline entries, then
`OrdersImported` for the chunk. A row whose order the corp already has (the file imported again,
or again after a crash between chunks), or whose refund is waiting for it, is marked `known` and
left to the per-order upsert, which the importer runs for those rows afterwards. Customers'
values are brought up to date once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from siyu.corps.models import Corp
from siyu.customers.models import Customer, CustomerPhone, TimelineEvent
from siyu.kit.clock import now
from siyu.kit.db import commit_unflushed, statistics_refresh
from siyu.kit.events import publish

from . import services
from .events import OrdersImported
from .models import CustomerValue, Order, OrderLine, Refund

STAGE_BATCH = 5000  # orders matched and sent to staging together
REBUILD_FROM = 20_000  # customers touched from which their values are rebuilt whole, not one by one

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
# n: the order's place in the file; order_id: its key once stored; a file's order has one refund.
STAGED = ["n", "order_id", *ORDER_COLUMNS, "refund_no", "refunded_at"]
LINE_COLUMNS = ["n", "k", "sku", "name", "quantity", "amount_fen"]


def chunk_size() -> int:
    """Staged orders per write transaction: SQLite's one writer waits for the whole of it."""
    return 50_000 if connection.vendor == "postgresql" else 5_000


class Staging:
    """One import's staging tables, on this connection (temporary: gone with it)."""

    def __init__(self, corp: Corp) -> None:
        self.corp = corp
        self.pending: list = []
        self.count = 0
        self.started = now()
        self.postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS orders_staging")
            cursor.execute("DROP TABLE IF EXISTS orders_staging_lines")
            # The real tables' own column types, without their constraints or indexes.
            cursor.execute(f"CREATE TEMPORARY TABLE orders_staging AS SELECT {', '.join(ORDER_COLUMNS)} FROM orders_order WHERE 1 = 0")
            for column, field in (
                ("n", OrderLine._meta.get_field("quantity")),
                ("order_id", Order._meta.get_field("amount_fen")),
                ("refund_no", Refund._meta.get_field("refund_no")),
                ("refunded_at", Refund._meta.get_field("refunded_at")),
            ):
                cursor.execute(f"ALTER TABLE orders_staging ADD COLUMN {column} {field.db_type(connection)}")
            cursor.execute("ALTER TABLE orders_staging ADD COLUMN known boolean NOT NULL DEFAULT FALSE")
            cursor.execute("CREATE TEMPORARY TABLE orders_staging_lines AS SELECT sku, name, quantity, amount_fen FROM orders_orderline WHERE 1 = 0")
            for column in ("n", "k"):
                cursor.execute(f"ALTER TABLE orders_staging_lines ADD COLUMN {column} {OrderLine._meta.get_field('quantity').db_type(connection)}")

    def add(self, data: services.OrderIn, staff_cache: dict) -> None:
        self.pending.append((data, services.order_fields(self.corp, data, staff_cache)))
        if len(self.pending) >= STAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        """The pending orders, their customers matched, into staging."""
        if not self.pending:
            return
        matches = services.customers_match(self.corp, [services.order_keys(data) for data, _ in self.pending])
        ids = self._keys(len(self.pending)) if self.postgres else [None] * len(self.pending)
        rows, lines = [], []
        for (data, fields), customer_id, order_id in zip(self.pending, matches, ids, strict=True):
            n = self.count
            self.count += 1
            refund = data.refunds[0] if data.refunds else None
            rows.append(
                (
                    n,
                    order_id,
                    self.corp.pk,
                    data.source,
                    data.order_no,
                    customer_id,
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
                    refund.refund_no if refund else None,
                    # A history file's refund without a time of its own is dated at its order's payment.
                    (refund.refunded_at or data.paid_at) if refund else None,
                )
            )
            lines += [(n, k, *line) for k, line in enumerate(services.line_values(data.lines or []))]
        self.pending = []
        self._send("orders_staging", STAGED, rows)
        self._send("orders_staging_lines", LINE_COLUMNS, lines)

    def _keys(self, count: int) -> list[int]:
        # Taken from the orders' own sequence now, so the writes later need no read back.
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('orders_order', 'id')) FROM generate_series(1, %s)", [count])
            return [row[0] for row in cursor.fetchall()]

    def _send(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            ops = connection.ops
            if table == "orders_staging":
                times = [STAGED.index(c) for c in ("paid_at", "refunded_at")]
                day = STAGED.index("paid_on")
                rows = [
                    tuple(ops.adapt_datetimefield_value(v) if i in times else ops.adapt_datefield_value(v) if i == day else v for i, v in enumerate(row))
                    for row in rows
                ]
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})", rows)

    def drop(self) -> None:
        self.pending = []
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS orders_staging")
            cursor.execute("DROP TABLE IF EXISTS orders_staging_lines")

    def write(self, on_progress: Callable[[int], None] | None = None) -> tuple[int, int, set[int]]:
        """Staging into the real tables; returns (orders created, of them matched, the places of
        the known orders, for the per-order upsert)."""
        self.flush()
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX orders_staging_n ON orders_staging (n)")
            cursor.execute("CREATE INDEX orders_staging_lines_n ON orders_staging_lines (n)")
            if self.postgres:
                cursor.execute("ANALYZE orders_staging")
                cursor.execute("ANALYZE orders_staging_lines")
        created = matched = 0
        step = chunk_size()
        for start in range(0, self.count, step):
            with transaction.atomic():
                commit_unflushed()  # a chunk lost in a crash is written again by the next run
                made, found, ids = self._write_chunk(start, start + step)
                created, matched = created + made, matched + found
                if ids:
                    publish(OrdersImported(corp=self.corp, order_ids=ids))
            if on_progress:
                on_progress(min(start + step, self.count))
        with connection.cursor() as cursor:
            cursor.execute("SELECT n FROM orders_staging WHERE known")
            known = {row[0] for row in cursor.fetchall()}
        return created, matched, known

    def _write_chunk(self, start: int, end: int) -> tuple[int, int, tuple[int, ...]]:
        stamp = now()
        chunk = "s.n >= %s AND s.n < %s"
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE orders_staging SET known = TRUE WHERE n IN (SELECT s.n FROM orders_staging s WHERE {chunk} AND (
                    EXISTS (SELECT 1 FROM orders_order o WHERE o.corp_id = s.corp_id AND o.source = s.source AND o.order_no = s.order_no)
                    OR EXISTS (SELECT 1 FROM orders_refund r WHERE r.corp_id = s.corp_id AND r.source = s.source AND r.order_no = s.order_no
                               AND r.order_id IS NULL)
                    OR EXISTS (SELECT 1 FROM orders_refund r WHERE r.corp_id = s.corp_id AND r.source = s.source AND r.refund_no = s.refund_no)))""",
                [start, end],
            )
            new = f"FROM orders_staging s WHERE {chunk} AND NOT s.known"
            if not self.postgres:
                # SQLite has no sequence to take keys from early: past the highest ever given (this
                # transaction holds the database's one write lock, so none is given meanwhile).
                cursor.execute(
                    "SELECT MAX(k) FROM (SELECT seq AS k FROM sqlite_sequence WHERE name = 'orders_order' UNION ALL SELECT MAX(id) FROM orders_order)"
                )
                base = (cursor.fetchone()[0] or 0) + 1 - start
                cursor.execute(f"UPDATE orders_staging SET order_id = n + %s WHERE n IN (SELECT s.n {new})", [base, start, end])
            cursor.execute(
                f"INSERT INTO orders_order (id, {', '.join(ORDER_COLUMNS)}, created_at, updated_at) "
                f"SELECT s.order_id, {', '.join('s.' + c for c in ORDER_COLUMNS)}, %s, %s {new} ORDER BY s.n",
                [stamp, stamp, start, end],
            )
            cursor.execute(
                "INSERT INTO orders_refund (corp_id, source, refund_no, order_no, order_id, amount_fen, refunded_at, created_at) "
                f"SELECT s.corp_id, s.source, s.refund_no, s.order_no, s.order_id, s.refunded_fen, s.refunded_at, %s {new} AND s.refunded_fen > 0 ORDER BY s.n",
                [stamp, start, end],
            )
            # Linked to their products by SKU, as `order_line_rows` links them.
            cursor.execute(
                "INSERT INTO orders_orderline (corp_id, order_id, product_id, sku, name, quantity, amount_fen) "
                "SELECT s.corp_id, s.order_id, p.id, l.sku, l.name, l.quantity, l.amount_fen "
                "FROM orders_staging_lines l JOIN orders_staging s ON s.n = l.n "
                "LEFT JOIN orders_product p ON p.corp_id = s.corp_id AND p.sku = l.sku AND l.sku <> '' "
                f"WHERE {chunk} AND NOT s.known ORDER BY l.n, l.k",
                [start, end],
            )
            # The entry `orders_timeline` makes of a matched order.
            data = "jsonb_build_object" if self.postgres else "json_object"
            cursor.execute(
                "INSERT INTO customers_timelineevent (corp_id, customer_id, kind, staff_id, occurred_at, data, dedupe_key) "
                f"SELECT s.corp_id, s.customer_id, %s, NULL, s.paid_at, {data}('order_no', s.order_no, 'source', s.source, "
                f"'amount_fen', s.amount_fen, 'store', s.store), 'order:' || s.order_id {new} AND s.customer_id IS NOT NULL ORDER BY s.n",
                [TimelineEvent.Kind.ORDER.value, start, end],
            )
            cursor.execute(f"SELECT s.order_id, s.customer_id {new} ORDER BY s.n", [start, end])
            stored = cursor.fetchall()
        return len(stored), sum(1 for _, customer_id in stored if customer_id is not None), tuple(order_id for order_id, _ in stored)

    def touched(self) -> set[int]:
        """Every customer a staged order names, known or new: after a crash the new orders of the
        run before are known in this one, and their customers' values are still to be made."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT customer_id FROM orders_staging WHERE customer_id IS NOT NULL")
            return {row[0] for row in cursor.fetchall()}

    def finish(self, customer_ids: set[int]) -> None:
        """Orders of customers who arrived while the file was written, matched; then values."""
        corp_id = self.corp.pk
        arrived = list(Customer.objects.filter(corp_id=corp_id, created_at__gte=self.started))
        if arrived:
            phones: dict[int, list[str]] = {}
            for customer_id, phone in CustomerPhone.objects.filter(customer__in=arrived).values_list("customer_id", "phone"):
                phones.setdefault(customer_id, []).append(phone)
            with transaction.atomic():
                services.orders_match_customers(corp_id=corp_id, customers=arrived, phones=phones)
        if len(customer_ids) >= REBUILD_FROM:
            services.customer_values_rebuild(corp=self.corp)
        else:
            with transaction.atomic():
                services.customer_values_refresh(corp_id=corp_id, customer_ids=customer_ids)
        if self.count >= REBUILD_FROM:
            statistics_refresh(Order, CustomerValue, TimelineEvent, Refund)
