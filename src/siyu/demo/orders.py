"""Demo order history: products in the four roles, a year of orders that follow the shape the seeds
describe (the 89-yuan new-customer pack first, repeat purchases that thin out, a few big spenders
making most of the GMV), refunds, and some orders that match nobody yet."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from siyu.corps.models import Corp
from siyu.customers.models import Follow, TimelineEvent
from siyu.kit.clock import now
from siyu.orders.models import Order, OrderLine, Product, Refund
from siyu.orders.services import customer_values_rebuild

PRODUCTS = [
    ("PACK-NEW", "新客礼包", "礼包", Product.Role.TRAFFIC, 8900),
    ("MILK-S1", "一段奶粉 800g", "奶粉", Product.Role.HIT, 29800),
    ("MILK-S2", "二段奶粉 800g", "奶粉", Product.Role.HIT, 31800),
    ("DIAPER-L", "纸尿裤 L 码", "纸尿裤", Product.Role.HIT, 15900),
    ("CEREAL", "有机米粉", "辅食", Product.Role.PROFIT, 6800),
    ("VITAMIN", "婴儿维生素 D3", "营养品", Product.Role.PROFIT, 12800),
    ("WIPES", "湿巾 10 包", "日用", Product.Role.RELATIONSHIP, 3900),
]


def seed_orders(corp: Corp, rng: random.Random) -> int:
    products = {
        sku: Product.objects.create(corp=corp, sku=sku, name=name, category=cat, role=role, price_fen=price) for sku, name, cat, role, price in PRODUCTS
    }
    regular = [p for p in products.values() if p.role != Product.Role.TRAFFIC]
    stamp = now()
    first_follows = {}
    for customer_id, staff_id, added_at, ext in (
        Follow.objects.filter(corp=corp).order_by("added_at").values_list("customer_id", "staff_id", "added_at", "customer__external_userid")
    ):
        first_follows.setdefault(customer_id, (staff_id, added_at, ext))
    orders, lines_for, refunds = [], [], []
    for customer_id, (staff_id, added_at, ext) in first_follows.items():
        roll = rng.random()
        if roll > 0.42:
            continue  # never bought
        # Each buyer's own rhythm (weekly rate) and how long they stay (chance to stop after a purchase).
        rate, stop = rng.gammavariate(0.9, 0.35), rng.betavariate(1.2, 3.0)
        size = math.exp(rng.gauss(0, 1.1))  # a few big spenders
        t = added_at - timedelta(days=rng.uniform(30, 200)) if roll < 0.03 else added_at + timedelta(days=rng.expovariate(1 / 5))
        n = 0
        while t < stamp:
            basket = [products["PACK-NEW"]] if n == 0 and rng.random() < 0.6 else rng.sample(regular, rng.randint(1, 3))
            lines = [(p, max(1, round(rng.expovariate(1 / size)))) for p in basket]
            amount = sum(p.price_fen * q for p, q in lines)
            no = f"YZ{customer_id:07d}{n:03d}"
            orders.append(
                Order(
                    corp=corp,
                    source="youzan",
                    order_no=no,
                    customer_id=customer_id,
                    external_userid=ext,
                    paid_at=t,
                    paid_on=t.astimezone(corp.tzinfo).date(),
                    amount_fen=amount,
                    staff_id=staff_id,
                    store="示例门店",
                )
            )
            lines_for.append(lines)
            r = rng.random()
            if r < 0.04:
                refunds.append((len(orders) - 1, amount))
            elif r < 0.07:
                refunds.append((len(orders) - 1, amount // 2))
            n += 1
            if n > 1 and rng.random() < stop:
                break
            t += timedelta(days=7 * rng.expovariate(max(rate, 0.01)))
    for i in range(40):  # bought in a store, not (yet) a WeCom customer
        t = stamp - timedelta(days=rng.uniform(1, 200))
        orders.append(
            Order(
                corp=corp,
                source="pos",
                order_no=f"POS{i:06d}",
                phone=f"1390000{i:04d}",
                paid_at=t,
                paid_on=t.astimezone(corp.tzinfo).date(),
                amount_fen=products["MILK-S1"].price_fen,
                store="示例门店",
            )
        )
        lines_for.append([(products["MILK-S1"], 1)])
    Order.objects.bulk_create(orders, batch_size=5000)
    OrderLine.objects.bulk_create(
        [
            OrderLine(corp=corp, order=o, product=p, sku=p.sku, name=p.name, quantity=q, amount_fen=p.price_fen * q)
            for o, lines in zip(orders, lines_for)
            for p, q in lines
        ],
        batch_size=5000,
    )
    refund_rows = []
    for index, fen in refunds:
        o = orders[index]
        o.refunded_fen = fen
        refund_rows.append(
            Refund(
                corp=corp,
                source=o.source,
                refund_no=f"R{o.order_no}",
                order_no=o.order_no,
                order=o,
                amount_fen=fen,
                refunded_at=min(o.paid_at + timedelta(days=rng.uniform(0.2, 10)), stamp),
            )
        )
    Refund.objects.bulk_create(refund_rows, batch_size=5000)
    Order.objects.bulk_update([orders[i] for i, _ in refunds], ["refunded_fen"], batch_size=2000)
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(
                corp=corp,
                customer_id=o.customer_id,
                kind=TimelineEvent.Kind.ORDER,
                occurred_at=o.paid_at,
                dedupe_key=f"order:{o.id}",
                data={"order_no": o.order_no, "source": o.source, "amount_fen": o.amount_fen, "store": o.store},
            )
            for o in orders
            if o.customer_id
        ],
        batch_size=5000,
    )
    customer_values_rebuild(corp=corp)
    return len(orders)
