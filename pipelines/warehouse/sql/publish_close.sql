-- Detaching checkpoints the copy, so the file is complete before it is fsynced and renamed into
-- place (the in-memory database becomes current again first: the current one cannot detach).
USE memory;
DETACH _analyst_copy;
DETACH _warehouse;
