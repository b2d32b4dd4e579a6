-- The records (`{table}`, history included) the customers `$ids` own, and their contact
-- fields. `{table}` and `{owner}` come from the registry.
SELECT DISTINCT id, {owner}, email, name, api_extra
FROM {table}_history
WHERE {owner} = ANY($ids)
