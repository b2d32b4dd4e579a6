-- Detaching checkpoints the new file, so it is complete before it is fsynced and renamed.
DETACH _rewritten;
