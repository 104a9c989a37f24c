-- A wallet batch decided from reads made outside any transaction is
-- applied in one statement (store.PayFromWallets), which ends by calling
-- this with whether everything it wrote found the database as the batch
-- read it. When not, the raise fails the statement, and with it everything
-- the statement wrote: it ran in no transaction but its own. SQLSTATE
-- PB001 tells the store that it was this check, not a fault.
CREATE FUNCTION pago_wallet_batch_as_read(ok boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'the database is no longer as the wallet batch read it' USING ERRCODE = 'PB001';
	END IF;
	RETURN true;
END;
$$;
