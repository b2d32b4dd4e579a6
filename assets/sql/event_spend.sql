-- Revenue per event and currency: completed, paid transactions (net, see transaction_facts), with
-- the event's name and start, and how much of its capacity its sold tickets fill.
-- Capacity is the event's (events.capacity, vivenu's maxAmount) and every sold ticket (see
-- ticket_facts) takes a place whatever its order's payment state, so capacity_filled is the
-- event's, across currencies: the same on each of its rows.
--
-- Table event_spend: one row per event and currency with a paid or refunded order.
-- Columns:
--   event_id: the event (transactions.event_id); NULL for orders without an event
--   event_name: the event's name (events.name); NULL if the event is not in events
--   event_start_at: when the event starts (events.start_at, UTC)
--   currency: ISO 4217 code of every amount in the row
--   revenue: sum of real_price of the event's completed, paid orders (net)
--   orders: completed, paid orders
--   tickets: tickets in those orders (transactions.ticket_count)
--   customers: distinct customers with a paid order
--   refunded: sum of real_price of refunded or charged-back orders
--   refunds: refunded or charged-back orders
--   first_order_at: created_at of the first paid order (UTC)
--   last_order_at: created_at of the latest paid order (UTC)
--   capacity: the most tickets the event may have (events.capacity); NULL where vivenu gives none
--   sold_tickets: the event's sold tickets (ticket_facts.is_sold: VALID or DETAILSREQUIRED), in
--     any currency
--   capacity_filled: sold_tickets / capacity, rounded to 4 decimals; NULL without a capacity
WITH spend AS (
    SELECT
        event_id,
        currency,
        coalesce(sum(real_price) FILTER (WHERE is_paid), 0)::DECIMAL(18, 4) AS revenue,
        count(*) FILTER (WHERE is_paid) AS orders,
        coalesce(sum(ticket_count) FILTER (WHERE is_paid), 0)::BIGINT AS tickets,
        count(DISTINCT customer_id) FILTER (WHERE is_paid) AS customers,
        coalesce(sum(real_price) FILTER (WHERE is_refund), 0)::DECIMAL(18, 4) AS refunded,
        count(*) FILTER (WHERE is_refund) AS refunds,
        min(created_at) FILTER (WHERE is_paid) AS first_order_at,
        max(created_at) FILTER (WHERE is_paid) AS last_order_at
    FROM transaction_facts
    WHERE is_paid OR is_refund
    GROUP BY ALL
),
sold AS (
    SELECT event_id, count(*) AS sold_tickets
    FROM ticket_facts
    WHERE is_sold
    GROUP BY event_id
)
SELECT
    s.event_id,
    e.name AS event_name,
    e.start_at AS event_start_at,
    s.currency,
    s.revenue,
    s.orders,
    s.tickets,
    s.customers,
    s.refunded,
    s.refunds,
    s.first_order_at,
    s.last_order_at,
    e.capacity,
    coalesce(k.sold_tickets, 0) AS sold_tickets,
    round(coalesce(k.sold_tickets, 0) / nullif(e.capacity, 0), 4) AS capacity_filled
FROM spend AS s
LEFT JOIN events AS e ON e.id = s.event_id
LEFT JOIN sold AS k ON k.event_id = s.event_id
ORDER BY s.event_id NULLS LAST, s.currency
