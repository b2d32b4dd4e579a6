-- Copy the open warehouse into a fresh file (the path is a bound value): a deleted row lives on
-- in the freed blocks of the old file until it is rewritten.
ATTACH $path AS _rewritten;
