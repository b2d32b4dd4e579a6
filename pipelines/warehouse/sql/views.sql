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
FROM transactions AS t
