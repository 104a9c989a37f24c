package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// RunInTx is Run for operations that touch only the database: the claim
// and the effect are one transaction, and fn must be safe to run for a key
// that already has an answer (its effect then rolls back: the key's insert
// fails it). There is no RUNNING record: fn's
// transaction inserts the key as DONE with its answer (TxCall.Complete or
// TxCall.Fail), so a payment costs one commit instead of two. A concurrent
// duplicate is never a second effect: its insert waits for the first
// transaction and finds the key taken, its effect rolls back with it, and
// it replays the first's answer (or, while that is not yet visible to it,
// answers REQUEST_IN_PROGRESS). Outcomes are Run's:
//   - a DONE key replays its stored result or domain error;
//   - the same key with another operation or input is IDEMPOTENCY_KEY_REUSED;
//   - a RUNNING key (left by Run for this key) is REQUEST_IN_PROGRESS;
//   - a replayable domain error from fn is stored (by fn's transaction via
//     Fail, or here in one of its own) and replayed; anything else stores
//     nothing, so the same request can be retried.
func RunInTx[T any](ctx context.Context, idem *Idempotency, userID, key, operation string, input any, fn func(ctx context.Context, call *TxCall) (T, error)) (T, error) {
	var zero T
	if err := ValidateIdempotencyKey(key); err != nil {
		return zero, err
	}
	hash, err := requestHash(operation, input)
	if err != nil {
		return zero, err
	}
	// No read of the key first: a fresh request (the common case) goes
	// straight to its transaction, whose insert finds a used key; a retry
	// of a finished request ends there, or in a domain error fn returns
	// because the effect is already done, and replays.
	call := &TxCall{idem: idem, rec: IdempotencyRecord{UserID: userID, Key: key, Operation: operation, RequestHash: hash,
		Owner: NewID("own", idem.now().UTC())}}
	res, err := fn(ctx, call)
	switch {
	case errors.Is(err, errKeyTaken):
		// A duplicate finished first; its answer is the key's.
		if res, err, found := replayExisting[T](ctx, idem, userID, key, operation, hash); found {
			return res, err
		}
		return zero, ErrRequestInProgress
	case err == nil && !call.done:
		return zero, fmt.Errorf("operation %s did not record its idempotent result", operation)
	case err == nil || call.done:
		return res, err
	}
	var de *Error
	if !errors.As(err, &de) || !replayable(de.Code) {
		if errors.As(err, &de) {
			// A transient refusal (a busy lock, say): if the key already
			// has an answer, that answer is the one to give.
			if res, rerr, found := replayExisting[T](ctx, idem, userID, key, operation, hash); found {
				return res, rerr
			}
		}
		return zero, err // nothing was stored: retry with the same key
	}
	saveCtx := context.WithoutCancel(ctx) // the answer is stored even if the client left
	serr := idem.store.InTx(saveCtx, func(q Queries) error { return call.Fail(saveCtx, q, de) })
	switch {
	case errors.Is(serr, errKeyTaken):
		if res, err, found := replayExisting[T](ctx, idem, userID, key, operation, hash); found {
			return res, err
		}
		return zero, ErrRequestInProgress
	case serr != nil:
		// Not recorded, so not the key's answer (see Run): a failure to retry.
		return zero, fmt.Errorf("record the answer %s for idempotency key: %w", de.Code, serr)
	}
	return zero, err
}

// replayExisting answers from the key's record if there is one.
func replayExisting[T any](ctx context.Context, idem *Idempotency, userID, key, operation, hash string) (T, error, bool) {
	var zero T
	existing, err := idem.store.IdempotencyKey(ctx, userID, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return zero, nil, false
	case err != nil:
		return zero, fmt.Errorf("read idempotency key: %w", err), true
	case existing.Operation != operation || existing.RequestHash != hash:
		return zero, ErrIdempotencyKeyReused, true
	case existing.Status != IdemDone:
		return zero, ErrRequestInProgress, true
	}
	res, err := replay[T](existing.Response)
	return res, err, true
}

// errKeyTaken is TxCall's insert finding the key taken: the transaction
// must roll the effect back and the answer is the key's.
var errKeyTaken = errors.New("idempotency key already recorded")

// TxCall is one RunInTx execution. The effect's transaction records the
// answer with Complete (or Fail, for a domain error it keeps).
type TxCall struct {
	idem *Idempotency
	rec  IdempotencyRecord
	done bool
}

// Complete records result as the key's answer inside q's transaction. It
// fails with errKeyTaken when the key exists, which must roll the effect back.
func (c *TxCall) Complete(ctx context.Context, q Queries, result any) error {
	raw, err := encodeResult(result)
	if err != nil {
		return err
	}
	return c.record(ctx, q, replayEnvelope{V: replayVersion, Result: raw})
}

// Fail records a domain error as the key's answer inside q's transaction.
func (c *TxCall) Fail(ctx context.Context, q Queries, de *Error) error {
	return c.record(ctx, q, replayEnvelope{V: replayVersion, Error: de})
}

// answer is the key's record holding result, or de when it is not nil,
// for the caller to insert with others (InsertIdempotencyDoneMany) and
// then mark recorded.
func (c *TxCall) answer(result any, de *Error) (IdempotencyRecord, error) {
	resp := replayEnvelope{V: replayVersion, Error: de}
	if de == nil {
		raw, err := encodeResult(result)
		if err != nil {
			return IdempotencyRecord{}, err
		}
		resp.Result = raw
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return IdempotencyRecord{}, fmt.Errorf("encode idempotent response: %w", err)
	}
	rec := c.rec
	rec.Status, rec.Response, rec.CreatedAt = IdemDone, body, c.idem.now().UTC()
	return rec, nil
}

// recorded marks the call's answer as inserted in its transaction.
func (c *TxCall) recorded() { c.done = true }

func (c *TxCall) record(ctx context.Context, q Queries, resp replayEnvelope) error {
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode idempotent response: %w", err)
	}
	rec := c.rec
	rec.Status, rec.Response, rec.CreatedAt = IdemDone, body, c.idem.now().UTC()
	ok, err := q.InsertIdempotencyDone(ctx, rec)
	if err != nil {
		return fmt.Errorf("record idempotency key: %w", err)
	}
	if !ok {
		return errKeyTaken
	}
	c.done = true
	return nil
}
