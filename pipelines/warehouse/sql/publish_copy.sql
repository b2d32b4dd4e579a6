-- Copy every table and view of the warehouse into the new analyst copy; detaching checkpoints
-- the copy, so the file is complete before it is fsynced and renamed into place.
COPY FROM DATABASE _warehouse TO _analyst_copy;
DETACH _analyst_copy;
DETACH _warehouse;
