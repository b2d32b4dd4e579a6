"""Every analytics table against figures computed by hand from a dozen transactions.

Transactions (EUR unless noted; paid = COMPLETE + RECEIVED/POS-RECEIVED/LOCAL-RECEIVED):
    t1  c1 2024-01-10 100.00 COMPLETE RECEIVED      ev1 (2 tickets)   paid (one cart item)
    t2  c1 2024-02-15  50.00 COMPLETE RECEIVED      ev2               paid
    t3  c1 2024-03-01  30.00 CANCELED REFUND        ev1               refund (and canceled)
    t4  c2 2024-01-20  40.00 COMPLETE POS-RECEIVED  ev1               paid
    t5  c2 2024-03-05  60.00 USD COMPLETE RECEIVED  ev2               paid
    t6  c3 2024-02-01  25.00 COMPLETE RECEIVED      ev2               paid
    t7  c3 2024-02-20  10.00 CANCELED CANCELED      ev2               canceled
    t8  c3 2024-04-10  35.00 COMPLETE RECEIVED      ev1               paid
    t9  c4 2024-03-15  20.00 NEW AWAITING           ev1               nothing
    t10 c1 2024-03-20  15.00 COMPLETE CHARGEBACK    ev2               refund
    t11 c4 2024-01-05   5.00 COMPLETE LOCAL-RECEIVED ev3              paid
    t12 -- 2024-01-07   7.00 COMPLETE RECEIVED      ev3               paid, no customer
Each has one ticket (t1 two): VALID, but INVALID for t3 and t7 and RESERVED for t9. The events
are not synced here (tests/warehouse/test_bookings.py has them).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from assets.analytics import build
from pipelines.sync.lake import Lake
from pipelines.warehouse.loader import connect, load
from tests.warehouse.lakefix import commit_run, customer, ticket, ts, txn

RUN = "20240501T000000000Z-000001"
# Each transaction's tickets (its id, its event, their statuses).
TICKETS = [
    ("t1", "ev1", ["VALID", "VALID"]),
    ("t2", "ev2", ["VALID"]),
    ("t3", "ev1", ["INVALID"]),
    ("t4", "ev1", ["VALID"]),
    ("t5", "ev2", ["VALID"]),
    ("t6", "ev2", ["VALID"]),
    ("t7", "ev2", ["INVALID"]),
    ("t8", "ev1", ["VALID"]),
    ("t9", "ev1", ["RESERVED"]),
    ("t10", "ev2", ["VALID"]),
    ("t11", "ev3", ["VALID"]),
    ("t12", "ev3", ["VALID"]),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    data = tmp_path_factory.mktemp("metrics")
    commit_run(
        data,
        "customers",
        RUN,
        customers=[
            customer("c1", "2024-04-01", tags=["vip", "newsletter"]),
            customer("c2", "2024-04-01", tags=["vip"], blocked=True),
            customer("c3", "2024-04-01", tags=["newsletter"]),
            customer("c4", "2024-04-01"),
            customer("c5", "2024-04-01", tags=["a/b"]),
        ],
    )
    commit_run(
        data,
        "transactions",
        RUN,
        transactions=[
            txn("t1", "c1", "2024-01-10", "100.00"),
            txn("t2", "c1", "2024-02-15", "50.00", event_id="ev2"),
            txn("t3", "c1", "2024-03-01", "30.00", status="CANCELED", payment_status="REFUND"),
            txn("t4", "c2", "2024-01-20", "40.00", payment_status="POS-RECEIVED"),
            txn("t5", "c2", "2024-03-05", "60.00", currency="USD", event_id="ev2"),
            txn("t6", "c3", "2024-02-01", "25.00", event_id="ev2"),
            txn(
                "t7",
                "c3",
                "2024-02-20",
                "10.00",
                status="CANCELED",
                payment_status="CANCELED",
                event_id="ev2",
            ),
            txn("t8", "c3", "2024-04-10", "35.00"),
            txn("t9", "c4", "2024-03-15", "20.00", status="NEW", payment_status="AWAITING"),
            txn("t10", "c1", "2024-03-20", "15.00", payment_status="CHARGEBACK", event_id="ev2"),
            txn("t11", "c4", "2024-01-05", "5.00", payment_status="LOCAL-RECEIVED", event_id="ev3"),
            txn("t12", None, "2024-01-07", "7.00", event_id="ev3"),
        ],
    )
    commit_run(
        data,
        "tickets",
        RUN,
        tickets=[
            ticket(f"k{tid}{n}", tid, event_id, None, "2024-01-01", status=status)
            for tid, event_id, statuses in TICKETS
            for n, status in enumerate(statuses)
        ],
    )
    db = data / "warehouse.duckdb"
    load(Lake(data), db, publish_copy=False)
    connection = connect(db)
    yield connection
    connection.close()


def rows(con, name, params=None):
    build(con, name, params)
    cur = con.execute(f"SELECT * FROM {name}")
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]


def test_customer_spend(con):
    got = [
        (r["customer_id"], r["currency"], r["revenue"], r["orders"], r["avg_order_value"],
         r["refunded"], r["refunds"], r["cancellations"], r["first_purchase_at"],
         r["last_purchase_at"])
        for r in rows(con, "customer_spend")
    ]  # fmt: skip
    assert got == [
        ("c1", "EUR", D("150"), 2, D("75"), D("45"), 2, 1, ts("2024-01-10"), ts("2024-02-15")),
        ("c2", "EUR", D("40"), 1, D("40"), D("0"), 0, 0, ts("2024-01-20"), ts("2024-01-20")),
        ("c2", "USD", D("60"), 1, D("60"), D("0"), 0, 0, ts("2024-03-05"), ts("2024-03-05")),
        ("c3", "EUR", D("60"), 2, D("30"), D("0"), 0, 1, ts("2024-02-01"), ts("2024-04-10")),
        ("c4", "EUR", D("5"), 1, D("5"), D("0"), 0, 0, ts("2024-01-05"), ts("2024-01-05")),
    ]


def test_monthly_spend_is_per_currency(con):
    got = [
        (r["month"], r["currency"], r["revenue"], r["orders"], r["customers"],
         r["avg_order_value"], r["refunded"], r["refunds"])
        for r in rows(con, "monthly_spend")
    ]  # fmt: skip
    assert got == [
        (date(2024, 1, 1), "EUR", D("152"), 4, 3, D("38"), D("0"), 0),
        (date(2024, 2, 1), "EUR", D("75"), 2, 2, D("37.5"), D("0"), 0),
        (date(2024, 3, 1), "EUR", D("0"), 0, 0, None, D("45"), 2),
        (date(2024, 3, 1), "USD", D("60"), 1, 1, D("60"), D("0"), 0),
        (date(2024, 4, 1), "EUR", D("35"), 1, 1, D("35"), D("0"), 0),
    ]


def test_event_spend(con):
    # tickets: the sold tickets of the paid orders, from `tickets` (t1's cart item holds two):
    # ev1 EUR t1 2 + t4 1 + t8 1 = 4; ev2 EUR t2 + t6 = 2; ev2 USD t5 = 1; ev3 t11 + t12 = 2.
    # sold_tickets is the event's, in every order and currency: ev1 4 (t3's INVALID and t9's
    # RESERVED are not sold); ev2 t2, t5, t6, t10 = 4 (t10's chargeback left its ticket VALID);
    # ev3 2. No event is synced: no name, no capacity, so nothing filled.
    got = [
        (r["event_id"], r["currency"], r["revenue"], r["orders"], r["tickets"], r["customers"],
         r["refunded"], r["refunds"], r["first_order_at"], r["last_order_at"], r["event_name"],
         r["sold_tickets"], r["capacity_filled"])
        for r in rows(con, "event_spend")
    ]  # fmt: skip
    assert got == [
        ("ev1", "EUR", D("175"), 3, 4, 3, D("30"), 1, ts("2024-01-10"), ts("2024-04-10"), None, 4,
         None),
        ("ev2", "EUR", D("75"), 2, 2, 2, D("15"), 1, ts("2024-02-01"), ts("2024-02-15"), None, 4,
         None),
        ("ev2", "USD", D("60"), 1, 1, 1, D("0"), 0, ts("2024-03-05"), ts("2024-03-05"), None, 4,
         None),
        ("ev3", "EUR", D("12"), 2, 2, 1, D("0"), 0, ts("2024-01-05"), ts("2024-01-07"), None, 2,
         None),
    ]  # fmt: skip


def test_tag_summary(con):
    got = [
        (r["tag"], r["customers"], r["currency"], r["paying_customers"], r["orders"], r["revenue"])
        for r in rows(con, "tag_summary")
    ]
    assert got == [
        ("newsletter", 2, "EUR", 2, 4, D("210")),
        ("vip", 2, "EUR", 2, 3, D("190")),
        ("vip", 2, "USD", 1, 1, D("60")),
        ("a/b", 1, None, 0, 0, D("0")),
    ]


def test_cohorts_with_zero_months(con):
    got = [
        (r["cohort_month"], r["month_number"], r["cohort_size"], r["customers"], r["retention"])
        for r in rows(con, "cohorts")
    ]
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    assert got == [
        (jan, 0, 3, 3, 1.0),
        (jan, 1, 3, 1, 0.3333),
        (jan, 2, 3, 1, 0.3333),
        (jan, 3, 3, 0, 0.0),
        (feb, 0, 1, 1, 1.0),
        (feb, 1, 1, 0, 0.0),
        (feb, 2, 1, 1, 1.0),
    ]


def rfm(con, as_of):
    return [
        (r["customer_id"], r["currency"], r["recency_days"], r["frequency"], r["monetary"],
         r["r_score"], r["f_score"], r["m_score"], r["segment"])
        for r in rows(con, "customer_rfm", {"as_of": as_of})
    ]  # fmt: skip


def test_rfm_as_of_end_of_april(con):
    # EUR recency 116 (c4), 101 (c2), 75 (c1), 20 (c3) -> cume_dist .25/.5/.75/1 -> 2/3/4/5.
    # Frequency ties (1, 1, 2, 2) share a score: 3, 3, 5, 5.
    assert rfm(con, date(2024, 4, 30)) == [
        ("c1", "EUR", 75, 2, D("150"), 4, 5, 5, "champions"),
        ("c2", "EUR", 101, 1, D("40"), 3, 3, 3, "need attention"),
        ("c3", "EUR", 20, 2, D("60"), 5, 5, 4, "champions"),
        ("c4", "EUR", 116, 1, D("5"), 2, 3, 2, "at risk"),
        ("c2", "USD", 56, 1, D("60"), 5, 5, 5, "champions"),
    ]


def test_rfm_only_sees_purchases_up_to_as_of(con):
    assert rfm(con, date(2024, 1, 31)) == [
        ("c1", "EUR", 21, 1, D("100"), 4, 5, 5, "champions"),
        ("c2", "EUR", 11, 1, D("40"), 5, 5, 4, "champions"),
        ("c4", "EUR", 26, 1, D("5"), 2, 5, 2, "at risk"),
    ]


def test_rfm_is_deterministic(con):
    assert rfm(con, date(2024, 4, 30)) == rfm(con, date(2024, 4, 30))


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (4, 4, 3, "loyal"),
        (3, 5, 1, "loyal"),
        (5, 2, 5, "potential loyalists"),
        (4, 1, 1, "new customers"),
        (3, 2, 2, "need attention"),
        (2, 4, 5, "at risk"),
        (1, 2, 5, "hibernating"),
    ],
)
def test_rfm_segment_rules(r, f, m, segment):
    from assets.analytics import sql

    text = sql("customer_rfm")
    case = text[text.index("CASE") : text.index("END AS segment") + 3]
    import duckdb

    got = duckdb.sql(
        f"SELECT {case} FROM (SELECT $r AS r_score, $f AS f_score, $m AS m_score)",
        params={"r": r, "f": f, "m": m},
    ).fetchall()
    assert got == [(segment,)]


def test_top_spenders_and_events_are_ranked_per_currency(con):
    from assets.analytics import sql

    build(con, "customer_spend")
    build(con, "event_spend")
    spenders = con.execute(sql("summaries/top_spenders")).fetchall()
    assert [(r[0], r[1], r[3]) for r in spenders] == [
        ("EUR", "c1", D("150.00")),
        ("EUR", "c3", D("60.00")),
        ("EUR", "c2", D("40.00")),
        ("USD", "c2", D("60.00")),
    ]
    # No events are synced here: the summary names each event by its id instead.
    events = con.execute(sql("summaries/top_events")).fetchall()
    assert [r[:2] for r in events] == [
        ("EUR", "ev1"),
        ("EUR", "ev2"),
        ("EUR", "ev3"),
        ("USD", "ev2"),
    ]
