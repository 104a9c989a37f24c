-- Live order status on SQLite, which has no NOTIFY: the store announces its
-- own status changes in-process when their transaction commits, and each
-- instance looks for changes made by other processes on the same file once a
-- second by updated_at (store/orderfeed.go), which this index serves.
CREATE INDEX orders_updated_at_idx ON orders (updated_at);
