SELECT count(*) FROM customers;
