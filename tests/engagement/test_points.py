"""The points ledger: each move once per key, never below zero (also under concurrent spends),
pending points released after the refund window or voided by a refund, lots spent soonest-expiring
first and expired exactly by what is left, a manager's correction with its reason; and, under
random interleavings of all of these, the account is always the sum of its entries."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.engagement import points as ledger
from siyu.engagement.models import PointsAccount, PointsEntry
from siyu.kit.errors import Conflict, Forbidden, InvalidInput
from siyu.kit.tenancy import Role

from .. import factories as f
from ..conftest import at_once

CN = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 10, tzinfo=CN)


def balance(customer) -> tuple[int, int]:
    account = PointsAccount.objects.filter(customer=customer).first()
    return (account.available, account.pending) if account else (0, 0)


def statement_ok(customer_id: int) -> bool:
    """The ledger's invariants for one customer: the account is the sum of its entries, each
    entry's balances follow from the one before, and the open lots (only earnings hold any) hold
    exactly what is available."""
    account = PointsAccount.objects.filter(customer_id=customer_id).first()
    entries = list(
        PointsEntry.objects.filter(customer_id=customer_id).order_by("pk").values_list("points", "pending_change", "available_after", "pending_after")
    )
    available = pending = 0
    for points, change, available_after, pending_after in entries:
        available, pending = available + points, pending + change
        if (available, pending) != (available_after, pending_after) or available < 0 or pending < 0:
            return False
    if account is None:
        return not entries
    lots = PointsEntry.objects.filter(customer_id=customer_id, remaining__gt=0)
    return (
        (account.available, account.pending) == (available, pending)
        and sum(lots.values_list("remaining", flat=True)) == available
        and not lots.exclude(kind__in=["earn", "pending", "adjust"]).exists()
    )


@pytest.mark.django_db
def test_a_move_counts_once_per_key_and_a_spend_over_the_balance_is_refused():
    corp = f.corp()
    c = f.customer(corp)
    first = ledger.points_earn(corp=corp, customer_id=c.pk, points=100, reason="checkin", source="checkin", source_id="c1:2026-12-01")
    again = ledger.points_earn(corp=corp, customer_id=c.pk, points=100, reason="checkin", source="checkin", source_id="c1:2026-12-01")
    assert again.pk == first.pk and balance(c) == (100, 0)
    with pytest.raises(Conflict) as refused:
        ledger.points_spend(corp=corp, customer_id=c.pk, points=150, reason="exchange", source="exchange", source_id="x1")
    assert refused.value.code == "insufficient_points" and "150" in str(refused.value) and "100" in str(refused.value)
    spent = ledger.points_spend(corp=corp, customer_id=c.pk, points=60, reason="exchange", source="exchange", source_id="x2")
    assert (spent.points, spent.available_after) == (-60, 40) and balance(c) == (40, 0)
    for bad in (0, -5, 1.5, True, ledger.POINTS_MAX + 1):
        with pytest.raises(InvalidInput):
            ledger.points_earn(corp=corp, customer_id=c.pk, points=bad, reason="x", source="x", source_id=str(bad))
    with pytest.raises(InvalidInput):  # another corp's customer
        ledger.points_earn(corp=f.corp(), customer_id=c.pk, points=5, reason="x", source="x", source_id="y")
    assert statement_ok(c.pk)


@pytest.mark.django_db
def test_order_points_wait_for_the_refund_window_and_a_refund_voids_them():
    corp = f.corp()
    c = f.customer(corp)
    window = T0 + timedelta(days=7)
    ledger.points_earn(corp=corp, customer_id=c.pk, points=300, reason="order", source="order", source_id="A1", at=T0, available_on=window)
    ledger.points_earn(corp=corp, customer_id=c.pk, points=200, reason="order", source="order", source_id="A2", at=T0, available_on=window)
    assert balance(c) == (0, 500)
    ledger.points_void(corp=corp, source="order", source_id="A2")  # refunded inside the window
    assert ledger.points_release_due(corp=corp, at=window - timedelta(seconds=1)) == 0
    assert ledger.points_release_due(corp=corp, at=window) == 1 and balance(c) == (300, 0)
    assert ledger.points_release_due(corp=corp, at=window + timedelta(days=1)) == 0  # released once
    # Refunded after the window, with part of the points spent: the unspent part is taken back.
    ledger.points_spend(corp=corp, customer_id=c.pk, points=120, reason="exchange", source="exchange", source_id="x1")
    void = ledger.points_void(corp=corp, source="order", source_id="A1")
    assert void.points == -180 and "120" in void.note and balance(c) == (0, 0)
    assert ledger.points_void(corp=corp, source="order", source_id="A1").pk == void.pk  # the refund delivered twice
    assert statement_ok(c.pk)


@pytest.mark.django_db
def test_spends_take_the_soonest_expiring_points_and_expiry_takes_what_is_left():
    corp = f.corp()
    c = f.customer(corp)
    ledger.points_earn(corp=corp, customer_id=c.pk, points=50, reason="task", source="task", source_id="t1")  # no end
    ledger.points_earn(corp=corp, customer_id=c.pk, points=100, reason="checkin", source="checkin", source_id="k1", expires_on=date(2026, 12, 31))
    ledger.points_spend(corp=corp, customer_id=c.pk, points=30, reason="exchange", source="exchange", source_id="x1")
    assert ledger.points_expire_due(corp=corp, on=date(2026, 12, 31)) == 0  # the last day still counts
    assert ledger.points_expire_due(corp=corp, on=date(2027, 1, 1)) == 1
    assert balance(c) == (50, 0)  # the 30 came from the expiring lot: 70 expired, the 50 stay
    assert ledger.points_expire_due(corp=corp, on=date(2027, 1, 2)) == 0
    assert statement_ok(c.pk)


@pytest.mark.django_db
def test_a_manager_corrects_a_balance_with_a_reason_and_is_on_the_ledger():
    corp = f.corp()
    c = f.customer(corp)
    manager = f.actor(corp)
    with pytest.raises(InvalidInput):
        ledger.points_adjust(actor=manager, customer=c, points=10, note=" ")
    with pytest.raises(Forbidden):
        ledger.points_adjust(actor=f.actor(corp, role=Role.GUIDE, staff=f.staff(corp)), customer=c, points=10, note="补发")
    entry = ledger.points_adjust(actor=manager, customer=c, points=80, note="活动补发")
    assert (entry.kind, entry.note, entry.remaining) == ("adjust", "活动补发", 80)
    with pytest.raises(Conflict):
        ledger.points_adjust(actor=manager, customer=c, points=-81, note="多发收回")
    ledger.points_adjust(actor=manager, customer=c, points=-30, note="多发收回")
    assert balance(c) == (50, 0) and statement_ok(c.pk)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 300), st.sampled_from([None, date(2026, 12, 10), date(2026, 12, 31)])),
        st.tuples(st.just("pending"), st.integers(1, 300), st.integers(1, 10)),
        st.tuples(st.just("spend"), st.integers(1, 400), st.none()),
        st.tuples(st.just("release"), st.integers(0, 12), st.none()),
        st.tuples(st.just("void"), st.integers(0, 30), st.none()),
        st.tuples(st.just("expire"), st.integers(0, 40), st.none()),
        st.tuples(st.just("adjust"), st.integers(-200, 200).filter(bool), st.none()),
        st.tuples(st.just("repeat"), st.integers(0, 30), st.none()),
    ),
    max_size=25,
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_under_any_interleaving_the_account_is_the_sum_of_its_entries_and_never_negative(ops):
    with transaction.atomic():
        corp = f.corp()
        c = f.customer(corp)
        manager = f.actor(corp)
        earned: list[str] = []
        for n, (op, a, b) in enumerate(ops):
            before = balance(c), PointsEntry.objects.count()
            try:
                with transaction.atomic():
                    if op == "earn":
                        ledger.points_earn(corp=corp, customer_id=c.pk, points=a, reason="task", source="task", source_id=str(n), expires_on=b, at=T0)
                        earned.append(str(n))
                    elif op == "pending":
                        available_on = T0 + timedelta(days=b)
                        ledger.points_earn(
                            corp=corp, customer_id=c.pk, points=a, reason="order", source="task", source_id=str(n), at=T0, available_on=available_on
                        )
                        earned.append(str(n))
                    elif op == "spend":
                        ledger.points_spend(corp=corp, customer_id=c.pk, points=a, reason="exchange", source="exchange", source_id=str(n))
                    elif op == "release":
                        ledger.points_release_due(corp=corp, at=T0 + timedelta(days=a))
                    elif op == "void" and earned:
                        ledger.points_void(corp=corp, source="task", source_id=earned[a % len(earned)])
                    elif op == "expire":
                        ledger.points_expire_due(corp=corp, on=date(2026, 12, 1) + timedelta(days=a))
                    elif op == "adjust":
                        ledger.points_adjust(actor=manager, customer=c, points=a, note="校正")
                    elif op == "repeat" and earned:  # the same earning submitted again moves nothing
                        key = earned[a % len(earned)]
                        ledger.points_earn(corp=corp, customer_id=c.pk, points=999, reason="task", source="task", source_id=key, at=T0)
                        assert (balance(c), PointsEntry.objects.count()) == before
            except Conflict as refused:  # refused whole: nothing moved
                assert refused.code == "insufficient_points"
                assert (balance(c), PointsEntry.objects.count()) == before
            assert statement_ok(c.pk), (n, op, a, b)
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_six_concurrent_spends_of_one_balance_leave_it_at_zero_never_below():
    corp = f.corp()
    c = f.customer(corp)
    ledger.points_earn(corp=corp, customer_id=c.pk, points=100, reason="checkin", source="checkin", source_id="k")
    outcomes, keys = [], iter(range(6))

    def spend():
        key = next(keys)
        try:
            with transaction.atomic():
                ledger.points_spend(corp=corp, customer_id=c.pk, points=40, reason="exchange", source="exchange", source_id=f"x{key}")
            outcomes.append("spent")
        except Conflict:
            outcomes.append("refused")

    at_once(spend, 6)
    assert sorted(outcomes) == ["refused"] * 4 + ["spent"] * 2
    assert balance(c) == (20, 0) and statement_ok(c.pk)
