-- The warehouse file to copy, attached read-only (the path is a bound value).
ATTACH $path AS _warehouse (READ_ONLY)
