-- The new analyst copy: a fresh temporary file (the path is a bound value).
ATTACH $path AS _analyst_copy
