-- A record fetched again after its tombstone exists in vivenu (it was listed): the tombstone no
-- longer holds. `versions` keeps only versions fetched after any tombstone of their id.
DELETE FROM deletions AS d
WHERE d.resource = $resource AND EXISTS (SELECT 1 FROM versions AS v WHERE v.id = d.id)
