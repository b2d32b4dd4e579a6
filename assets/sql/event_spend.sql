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
--   tickets: the sold tickets (ticket_facts.is_sold) of those orders
--   customers: distinct customers with a paid order
--   refunded: sum of real_price of refunded or charged-back orders
--   refunds: refunded or charged-back orders
--   first_order_at: created_at of the first paid order (UTC)
--   last_order_at: created_at of the latest paid order (UTC)
--   capacity: the most tickets the event may have (events.capacity); NULL where vivenu gives none
--   sold_tickets: the event's sold tickets (ticket_facts.is_sold: VALID or DETAILSREQUIRED), in
--     any currency
--   capacity_filled: sold_tickets / capacity, rounded to 4 decimals; NULL without a capacity
-- Tickets are counted in `tickets`, not from transactions.ticket_count: that is the number of
-- vivenu's cart items, each of which may hold several tickets.
WITH order_tickets AS (
    SELECT transaction_id, count(*) AS tickets
    FROM ticket_facts
    WHERE is_sold
    GROUP BY transaction_id
),
spend AS (
    SELECT
        f.event_id,
        f.currency,
        coalesce(sum(f.real_price) FILTER (WHERE f.is_paid), 0)::DECIMAL(18, 4) AS revenue,
        count(*) FILTER (WHERE f.is_paid) AS orders,
        coalesce(sum(o.tickets) FILTER (WHERE f.is_paid), 0)::BIGINT AS tickets,
        count(DISTINCT f.customer_id) FILTER (WHERE f.is_paid) AS customers,
        coalesce(sum(f.real_price) FILTER (WHERE f.is_refund), 0)::DECIMAL(18, 4) AS refunded,
        count(*) FILTER (WHERE f.is_refund) AS refunds,
        min(f.created_at) FILTER (WHERE f.is_paid) AS first_order_at,
        max(f.created_at) FILTER (WHERE f.is_paid) AS last_order_at
    FROM transaction_facts AS f
    LEFT JOIN order_tickets AS o ON o.transaction_id = f.id
    WHERE f.is_paid OR f.is_refund
    GROUP BY f.event_id, f.currency
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
