-- Live order status: every change of an order's status is announced on the
-- channel pago_order_status with the order's id as payload. NOTIFY is
-- transactional: it is delivered when the changing transaction commits, and
-- never if it rolls back. Each instance LISTENs on one connection and fans
-- the change out to its orderUpdated subscribers (payment/watch.go).
CREATE FUNCTION pago_notify_order_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('pago_order_status', NEW.id);
	RETURN NULL;
END;
$$;

--bun:split

CREATE TRIGGER orders_status_notify
AFTER UPDATE OF status ON orders
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION pago_notify_order_status();
