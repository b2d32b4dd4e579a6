"""vivenu webhooks: the receiver (`customer-sync webhooks serve`) that stores signed deliveries,
scrubbed of their secrets, durably and once each in the inbox under the data directory.

No Dagster imports: the receiver answers within vivenu's 10 s timeout and touches nothing but
the inbox.
"""
