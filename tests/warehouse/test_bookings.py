"""The booking analytics (events and tickets) against figures computed by hand.

Events (UTC; capacity = vivenu's maxAmount):
    e1 Spring Gala  starts 2024-03-01 00:00  capacity 10
    e2 Summer Fest  starts 2024-06-01 00:00  capacity 4
    e3 Autumn Jazz  starts 2024-09-01 12:00  no capacity
    e4 Winter Ball  starts 2024-12-01 00:00  capacity 100

Transactions (EUR unless noted; every one placed at 00:00 UTC unless noted) and their tickets
(sold: VALID or DETAILSREQUIRED):
    a1 a 2024-01-01 e1 100.00 paid            2: VALID, DETAILSREQUIRED (a companion's, sold
                                                 and waiting for the holder's details)
    a2 a 2024-02-01 e2  60.00 paid            1 VALID
    a3 a 2024-04-01 e3  70.00 paid            1 VALID
    a4 a 2024-08-01 e4  80.00 USD paid        1 VALID
    b1 b 2024-02-10 e1  40.00 paid            1 VALID
    b2 b 2024-02-20 e1  40.00 paid            1 VALID   (a second order for the same event)
    b3 b 2024-05-01 e2 150.00 paid            3: 2 VALID, 1 INVALID (voided after the sale)
    c1 c 2024-02-25 e1  50.00 paid            1 VALID
    c2 c 2024-03-01 e2  45.00 REFUND          1 INVALID  (not a booking)
    d1 d 2024-05-20 e2  30.00 NEW AWAITING    1 RESERVED (not a booking)
    x1 - 2024-05-31 12:00 e2 50.00 paid, no customer, 1 VALID
    y1 - 2024-03-01 06:00 e1 25.00 paid at the door (POS-RECEIVED), after the start, no customer,
                                                 1 VALID

Lead time (days from the order to the event's start; 2024 is a leap year, February has 29 days):
    a1 e1: Jan 1 -> Mar 1 = 31 + 29 = 60       b1 e1: Feb 10 -> Mar 1 = 20
    a2 e2: Feb 1 -> Jun 1 = 29+31+30+31 = 121   b2 e1: Feb 20 -> Mar 1 = 10
    a3 e3: Apr 1 -> Sep 1 12:00 = 153.5         b3 e2: May 1 -> Jun 1 = 31
    a4 e4: Aug 1 -> Dec 1 = 31+30+31+30 = 122   c1 e1: Feb 25 -> Mar 1 = 5
    x1 e2: May 31 12:00 -> Jun 1 = 0.5          y1 e1: Mar 1 06:00 -> Mar 1 00:00 = -0.25
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from assets.analytics import build, sql
from pipelines.sync.lake import Lake
from pipelines.warehouse.loader import connect, load
from tests.warehouse.lakefix import commit_run, customer, event, ticket, ts, txn

RUN = "20241201T000000000Z-000001"

TRANSACTIONS = [
    # id, customer, placed, event, price, tickets' statuses, other fields
    ("a1", "a", "2024-01-01", "e1", "100.00", ["VALID", "DETAILSREQUIRED"], {}),
    ("a2", "a", "2024-02-01", "e2", "60.00", ["VALID"], {}),
    ("a3", "a", "2024-04-01", "e3", "70.00", ["VALID"], {}),
    ("a4", "a", "2024-08-01", "e4", "80.00", ["VALID"], {"currency": "USD"}),
    ("b1", "b", "2024-02-10", "e1", "40.00", ["VALID"], {}),
    ("b2", "b", "2024-02-20", "e1", "40.00", ["VALID"], {}),
    ("b3", "b", "2024-05-01", "e2", "150.00", ["VALID", "VALID", "INVALID"], {}),
    ("c1", "c", "2024-02-25", "e1", "50.00", ["VALID"], {}),
    ("c2", "c", "2024-03-01", "e2", "45.00", ["INVALID"], {"payment_status": "REFUND"}),
    (
        "d1", "d", "2024-05-20", "e2", "30.00", ["RESERVED"],
        {"status": "NEW", "payment_status": "AWAITING"},
    ),
    ("x1", None, "2024-05-31T12:00", "e2", "50.00", ["VALID"], {}),
    ("y1", None, "2024-03-01T06:00", "e1", "25.00", ["VALID"], {"payment_status": "POS-RECEIVED"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    data = tmp_path_factory.mktemp("bookings")
    commit_run(
        data,
        "customers",
        RUN,
        customers=[customer(c, "2024-01-01") for c in ("a", "b", "c", "d")],
    )
    commit_run(
        data,
        "events",
        RUN,
        events=[
            event("e1", "Spring Gala", "2024-03-01", 10),
            event("e2", "Summer Fest", "2024-06-01", 4),
            event("e3", "Autumn Jazz", "2024-09-01T12:00", None),
            event("e4", "Winter Ball", "2024-12-01", 100),
        ],
    )
    commit_run(
        data,
        "transactions",
        RUN,
        transactions=[
            txn(tid, cid, placed, price, event_id=eid, tickets=len(statuses), **more)
            for tid, cid, placed, eid, price, statuses, more in TRANSACTIONS
        ],
    )
    commit_run(
        data,
        "tickets",
        RUN,
        tickets=[
            ticket(f"{tid}-{n}", tid, eid, cid, placed, status=status)
            for tid, cid, placed, eid, _, statuses, _ in TRANSACTIONS
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


def test_event_spend_names_the_event_and_fills_its_capacity(con):
    # Revenue per currency from the paid orders (c2's refund is `refunded`, d1 is nothing):
    #   e1 EUR a1 100 + b1 40 + b2 40 + c1 50 + y1 25 = 255, 5 orders, 2+1+1+1+1 = 6 tickets,
    #       3 customers (y1 has none)
    #   e2 EUR a2 60 + b3 150 + x1 50 = 260, 3 orders, 1 + 2 (b3's third is INVALID) + 1 = 4 sold
    #       tickets, 2 customers (x1 has none), refunded c2 45 in 1 refund
    #   e3 EUR a3 70; e4 USD a4 80
    # Capacity filled: the event's sold tickets (whatever the order) / its capacity:
    #   e1 2+1+1+1+1 = 6 / 10 = 0.6; e2 a2 1 + b3 2 + x1 1 = 4 / 4 = 1.0 (c2's INVALID and d1's
    #   RESERVED take no place); e3 1 / no capacity = NULL; e4 1 / 100 = 0.01
    got = [
        (r["event_id"], r["event_name"], r["event_start_at"], r["currency"], r["revenue"],
         r["orders"], r["tickets"], r["customers"], r["refunded"], r["refunds"], r["capacity"],
         r["sold_tickets"], r["capacity_filled"])
        for r in rows(con, "event_spend")
    ]  # fmt: skip
    assert got == [
        ("e1", "Spring Gala", ts("2024-03-01"), "EUR", D("255"), 5, 6, 3, D("0"), 0, 10, 6, 0.6),
        ("e2", "Summer Fest", ts("2024-06-01"), "EUR", D("260"), 3, 4, 2, D("45"), 1, 4, 4, 1.0),
        ("e3", "Autumn Jazz", ts("2024-09-01T12:00"), "EUR", D("70"), 1, 1, 1, D("0"), 0, None,
         1, None),
        ("e4", "Winter Ball", ts("2024-12-01"), "USD", D("80"), 1, 1, 1, D("0"), 0, 100, 1, 0.01),
    ]  # fmt: skip


def test_customer_bookings(con):
    # a: 4 paid orders for 4 events; sold tickets 2 (one DETAILSREQUIRED) + 1 + 1 + 1 = 5. First orders per event Jan 1, Feb 1,
    #    Apr 1, Aug 1: gaps 31, 60 (29+31), 122 (30+31+30+31) -> median 60. Lead times 60, 121,
    #    122, 153.5 -> median (121 + 122) / 2 = 121.5.
    # b: 3 paid orders for 2 events (b2 is a second order for e1: a booking, not a return);
    #    tickets 1 + 1 + 2 (b3's third is INVALID) = 4. First orders per event Feb 10 (e1) and
    #    May 1 (e2): 20 + 31 + 30 = 81 days. Lead times 20, 10, 31 -> median 20.
    # c: 1 paid order (c2 is a refund): 1 event, 1 ticket, no gap; lead time 5.
    # d: no paid order, so no row; x1 and y1 have no customer.
    got = [
        (r["customer_id"], r["bookings"], r["events_booked"], r["tickets"], r["first_booking_at"],
         r["last_booking_at"], r["median_days_between_bookings"], r["median_lead_days"])
        for r in rows(con, "customer_bookings")
    ]  # fmt: skip
    assert got == [
        ("a", 4, 4, 5, ts("2024-01-01"), ts("2024-08-01"), 60.0, 121.5),
        ("b", 3, 2, 4, ts("2024-02-10"), ts("2024-05-01"), 81.0, 20.0),
        ("c", 1, 1, 1, ts("2024-02-25"), ts("2024-02-25"), None, 5.0),
    ]


def conversion(con, steps):
    return [
        (r["events_booked"], r["customers"], r["share_of_bookers"], r["conversion"],
         r["median_days_from_previous"])
        for r in rows(con, "booking_conversion", {"steps": steps})
    ]  # fmt: skip


def test_repeat_booking_conversion(con):
    # Bookers: a (4 events), b (2), c (1): 3 customers.
    # n=2: a, b = 2 of 3 (0.6667), from 3 (0.6667); days 1st -> 2nd event: a 31, b 81 -> 56.
    # n=3: a = 1 of 3 (0.3333), from 2 (0.5); a's 2nd -> 3rd: 60.
    # n=4: a = 1 of 3 (0.3333), from 1 (1.0); a's 3rd -> 4th: 122.
    assert conversion(con, 4) == [
        (1, 3, 1.0, None, None),
        (2, 2, 0.6667, 0.6667, 56.0),
        (3, 1, 0.3333, 0.5, 60.0),
        (4, 1, 0.3333, 1.0, 122.0),
    ]


def test_repeat_booking_conversion_steps_are_a_bound_parameter(con):
    assert conversion(con, 2) == [(1, 3, 1.0, None, None), (2, 2, 0.6667, 0.6667, 56.0)]
    # Nobody booked a 5th event: the step is listed, with no one.
    assert conversion(con, 5)[-1] == (5, 0, 0.0, 0.0, None)


def test_event_lead_time(con):
    # quantile_cont interpolates: position q * (n - 1) in the sorted lead times.
    # e1: -0.25, 5, 10, 20, 60 (y1 at the door, c1, b2, b1, a1): p25 at 1 -> 5; median at 2 ->
    #     10; p75 at 3 -> 20. Under 7 days (or after the start): y1, c1, 2 of 5.
    # e2: 0.5, 31, 121 (x1, b3, a2; the customerless x1 counts): p25 at 0.5 -> 0.5 + 0.5 * 30.5
    #     = 15.75 (15.8); median 31; p75 at 1.5 -> 31 + 0.5 * 90 = 76. Under 7 days: x1, 1 of 3.
    # e3: a3 alone, 153.5; e4: a4 alone, 122 (USD: lead time has no currency).
    got = [
        (r["event_id"], r["event_name"], r["orders"], r["p25_lead_days"], r["median_lead_days"],
         r["p75_lead_days"], r["last_week_share"])
        for r in rows(con, "event_lead_time")
    ]  # fmt: skip
    assert got == [
        ("e1", "Spring Gala", 5, 5.0, 10.0, 20.0, 0.4),
        ("e2", "Summer Fest", 3, 15.8, 31.0, 76.0, 0.3333),
        ("e3", "Autumn Jazz", 1, 153.5, 153.5, 153.5, 0.0),
        ("e4", "Winter Ball", 1, 122.0, 122.0, 122.0, 0.0),
    ]


def test_the_demo_summaries(con):
    for name, params in (
        ("event_spend", None),
        ("customer_bookings", None),
        ("booking_conversion", {"steps": 4}),
    ):
        build(con, name, params)
    top = con.execute(sql("summaries/top_events")).fetchall()
    # Names, not ids; ranked by revenue within each currency.
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in top] == [
        ("EUR", "Summer Fest", date(2024, 6, 1), D("260.00"), 1.0),
        ("EUR", "Spring Gala", date(2024, 3, 1), D("255.00"), 0.6),
        ("EUR", "Autumn Jazz", date(2024, 9, 1), D("70.00"), None),
        ("USD", "Winter Ball", date(2024, 12, 1), D("80.00"), 0.01),
    ]
    # Tickets 5, 4, 1: mean 3.33, median 4; events 4, 2, 1: mean 2.33, median 2; median days
    # between bookings: a 60, b 81 (c has none): mean and median 70.5.
    assert con.execute(sql("summaries/booking_habits")).fetchall() == [
        ("tickets bought", 3.33, 4.0),
        ("distinct events booked", 2.33, 2.0),
        ("days between bookings", 70.5, 70.5),
    ]
    # The 10 bookings' lead times: -0.25 | 0.5 | 5 | 10, 20 | 31, 60 | 121, 122, 153.5.
    assert con.execute(sql("summaries/lead_time_bands")).fetchall() == [
        ("after the start", 1, 0.1),
        ("under 1 day", 1, 0.1),
        ("1-6 days", 1, 0.1),
        ("7-29 days", 2, 0.2),
        ("30-89 days", 2, 0.2),
        ("90 days or more", 3, 0.3),
    ]
    assert [r[:2] for r in con.execute(sql("summaries/repeat_bookings")).fetchall()] == [
        (1, 3), (2, 2), (3, 1), (4, 1)
    ]  # fmt: skip
