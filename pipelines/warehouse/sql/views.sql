-- How a transaction counts for revenue. Definitions (vivenu TransactionResource enums):
--   completed, paid: status COMPLETE (the order went through) and paymentStatus RECEIVED,
--       POS-RECEIVED or LOCAL-RECEIVED (the money arrived: online, at the box office, or by a
--       local/offline method). EXTERNAL (settled outside vivenu) and AWAITING/PENDING are not
--       counted: we cannot see that the money arrived.
--   refund: paymentStatus REFUND or CHARGEBACK. vivenu moves a refunded transaction to REFUND
--       (a chargeback is the payer's bank reversing it); its real_price is the amount returned.
--   canceled: status CANCELED, or paymentStatus CANCELED/POS-CANCELED (never paid, or voided).
-- A transaction holds its current state only, so a refunded order is no longer "paid": revenue
-- (the sum over completed, paid transactions) is already net of refunds and cancellations.
--
-- View transaction_facts: one row per transaction (as in transactions) with how it counts for
--   revenue; the analytics tables are built from it.
-- Columns:
--   *: transactions
--   is_paid: completed and paid (status COMPLETE, payment RECEIVED, POS-RECEIVED or
--     LOCAL-RECEIVED): counts for revenue
--   is_refund: refunded or charged back (payment REFUND or CHARGEBACK)
--   is_canceled: canceled (status CANCELED, or payment CANCELED or POS-CANCELED)
--   purchase_date: the UTC calendar day the order was placed (created_at)
CREATE OR REPLACE VIEW transaction_facts AS
SELECT
    t.*,
    coalesce(
        t.status = 'COMPLETE'
        AND t.payment_status IN ('RECEIVED', 'POS-RECEIVED', 'LOCAL-RECEIVED'), false
    ) AS is_paid,
    coalesce(t.payment_status IN ('REFUND', 'CHARGEBACK'), false) AS is_refund,
    coalesce(
        t.status = 'CANCELED' OR t.payment_status IN ('CANCELED', 'POS-CANCELED'), false
    ) AS is_canceled,
    (t.created_at AT TIME ZONE 'UTC')::DATE AS purchase_date
FROM transactions AS t;

-- A ticket is sold while it admits someone: VALID, or DETAILSREQUIRED (as its name says, sold and
-- waiting for its holder's details; the simulator issues none). RESERVED holds a place during a
-- checkout that has not completed and INVALID was voided (its order canceled or aborted); vivenu
-- does not document BLANK, so it is not counted as sold.
--
-- View ticket_facts: one row per ticket (as in tickets) with whether it counts as sold; the
--   analytics count tickets from it.
-- Columns:
--   *: tickets
--   is_sold: status VALID or DETAILSREQUIRED: a ticket sold, taking a place at its event
CREATE OR REPLACE VIEW ticket_facts AS
SELECT t.*, coalesce(t.status IN ('VALID', 'DETAILSREQUIRED'), false) AS is_sold
FROM tickets AS t;

-- A booking is a completed, paid order (transaction_facts.is_paid) for an event: the booking
-- analytics (customer_bookings, booking_conversion, event_lead_time) all start from here.
-- Lead time is measured in days, fractions included, from the order to the event's start; an
-- order placed after the event started (at the door) has a negative lead time.
--
-- View booking_facts: one row per completed, paid transaction with an event (transaction_facts
--   joined to its event); an event not (yet) synced leaves the event columns NULL.
-- Columns:
--   transaction_id: the order (transactions.id)
--   customer_id: the buying customer (customers.id); NULL for an order without a customer
--   event_id: the event booked (events.id)
--   currency: ISO 4217 code of real_price
--   real_price: the amount paid for the order, in currency
--   booked_at: when the order was placed (transactions.created_at, UTC)
--   event_name: the event's name (events.name)
--   event_start_at: when the event starts (events.start_at, UTC)
--   lead_days: days from booked_at to event_start_at (negative: booked after the start)
CREATE OR REPLACE VIEW booking_facts AS
SELECT
    f.id AS transaction_id,
    f.customer_id,
    f.event_id,
    f.currency,
    f.real_price,
    f.created_at AS booked_at,
    e.name AS event_name,
    e.start_at AS event_start_at,
    (epoch(e.start_at) - epoch(f.created_at)) / 86400 AS lead_days
FROM transaction_facts AS f
LEFT JOIN events AS e ON e.id = f.event_id
WHERE f.is_paid AND f.event_id IS NOT NULL
