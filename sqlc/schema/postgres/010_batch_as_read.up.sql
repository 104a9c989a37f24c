-- A settle batch of card confirms decided from what its confirms hold is
-- applied in one statement (store.SettleCardPayments), which ends by
-- calling this with whether everything it wrote found the database as the
-- batch held it. When not, the raise fails the statement, and with it
-- everything the statement wrote: it ran in no transaction but its own.
-- SQLSTATE PB001 tells the store that it was this check, not a fault, as
-- pago_wallet_batch_as_read's does for the wallet batch.
CREATE FUNCTION pago_batch_as_read(ok boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'the database is no longer as the batch read it' USING ERRCODE = 'PB001';
	END IF;
	RETURN true;
END;
$$;
