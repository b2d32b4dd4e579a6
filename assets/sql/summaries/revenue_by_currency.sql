SELECT currency, count(*) AS customers, sum(revenue) AS revenue, sum(orders) AS orders, sum(refunded) AS refunded
FROM customer_spend
GROUP BY currency
ORDER BY revenue DESC
