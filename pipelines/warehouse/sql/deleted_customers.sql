-- Ids of the customers vivenu confirmed deleted.
SELECT id FROM deletions WHERE resource = 'customers' ORDER BY id
