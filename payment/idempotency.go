package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Idempotency statuses.
const (
	IdemRunning = "RUNNING"
	IdemDone    = "DONE"
)

// IdempotencyRecord is the stored state of one (user, key).
type IdempotencyRecord struct {
	UserID      string
	Key         string
	Operation   string
	RequestHash string
	Status      string
	Owner       string // random per attempt: fences a request whose lease was taken over
	Response    []byte // a replayEnvelope (replay.go) once DONE
	LeaseUntil  time.Time
	CreatedAt   time.Time
}

// IdempotencyCompletion is one key's response for CompleteIdempotencyKeys,
// fenced by its owner as CompleteIdempotencyKey is.
type IdempotencyCompletion struct {
	UserID, Key, Owner string
	Response           []byte
}

// Idempotency runs mutations at most once per (user, key). The claim is
// committed before the effect so that a concurrent duplicate sees
// REQUEST_IN_PROGRESS; the response is written by the effect's own
// transaction (Call.Complete), so a crash leaves both or neither; a claim
// whose owner died is taken over when its lease lapses.
type Idempotency struct {
	store Store
	now   Clock
	lease time.Duration
	// claims groups the claims of concurrent requests into one write
	// (claim); await parks a claim waiting for its batch, as the service's
	// Config.Await (NewService hands it over).
	claims group[*claimOp]
	await  func(ctx context.Context, what string, ready <-chan struct{})
}

// NewIdempotency returns the runner. lease bounds how long a dead request
// blocks its key; it must exceed the slowest mutation (PG calls included).
func NewIdempotency(store Store, now Clock, lease time.Duration) *Idempotency {
	return &Idempotency{store: store, now: now, lease: lease,
		await: func(_ context.Context, _ string, ready <-chan struct{}) { <-ready }}
}

// claimOp is one request's claim in a batch of claims.
type claimOp struct {
	rec     IdempotencyRecord
	claimed bool
	err     error
}

// claim is ClaimIdempotencyKey for rec, in one write with the claims of
// the requests arriving together (group commit): each claim is decided
// for itself, as the one-key INSERT … ON CONFLICT DO NOTHING decides it.
func (idem *Idempotency) claim(ctx context.Context, rec IdempotencyRecord) (bool, error) {
	op := &claimOp{rec: rec}
	idem.claims.do(ctx, idem.await, "claim batch", op, maxConfirmBatch, idem.claimBatch,
		func(op *claimOp) { op.err = errBatchAbandoned })
	return op.claimed, op.err
}

func (idem *Idempotency) claimBatch(ctx context.Context, batch []*claimOp) {
	if len(batch) == 1 {
		claimed, err := idem.store.ClaimIdempotencyKey(ctx, batch[0].rec)
		batch[0].claimed, batch[0].err = claimed, timedOut(ctx, err)
		return
	}
	rs := make([]IdempotencyRecord, len(batch))
	for i, op := range batch {
		rs[i] = op.rec
	}
	claimed, err := idem.store.ClaimIdempotencyKeys(ctx, rs)
	err = timedOut(ctx, err)
	for i, op := range batch {
		op.claimed, op.err = err == nil && slices.Contains(claimed, i), err
	}
}

// Call is one claimed execution. The effect's transaction calls Complete.
type Call struct {
	idem   *Idempotency
	userID string
	key    string
	owner  string
	done   bool
}

// Complete records result as the key's response inside q's transaction. It
// fails with ErrRequestInProgress when the claim was taken over, which rolls
// the effect back.
func (c *Call) Complete(ctx context.Context, q Queries, result any) error {
	ok, err := c.completeIfOwned(ctx, q, result)
	if err == nil && !ok {
		return ErrRequestInProgress
	}
	return err
}

// tryComplete is Complete for an effect that stands whether or not this
// call still owns its key (a settle: the PG has spoken). A lost key leaves
// the answer to whoever holds it now.
func (c *Call) tryComplete(ctx context.Context, q Queries, result any) error {
	_, err := c.completeIfOwned(ctx, q, result)
	return err
}

func (c *Call) completeIfOwned(ctx context.Context, q Queries, result any) (bool, error) {
	raw, err := encodeResult(result)
	if err != nil {
		return false, err
	}
	return c.complete(ctx, q, replayEnvelope{V: replayVersion, Result: raw})
}

func (c *Call) complete(ctx context.Context, q Queries, resp replayEnvelope) (bool, error) {
	cp, err := c.completion(resp)
	if err != nil {
		return false, err
	}
	ok, err := q.CompleteIdempotencyKey(ctx, cp.UserID, cp.Key, cp.Owner, cp.Response, c.idem.now().UTC())
	if err != nil {
		return false, fmt.Errorf("complete idempotency key: %w", err)
	}
	c.done = c.done || ok
	return ok, nil
}

// completion is resp as the key's answer, for CompleteIdempotencyKeys; a
// batch marks the call done (recorded) once its transaction committed.
func (c *Call) completion(resp replayEnvelope) (IdempotencyCompletion, error) {
	body, err := json.Marshal(resp)
	if err != nil {
		return IdempotencyCompletion{}, fmt.Errorf("encode idempotent response: %w", err)
	}
	return IdempotencyCompletion{UserID: c.userID, Key: c.key, Owner: c.owner, Response: body}, nil
}

// recorded marks the call's answer as written by a committed batch.
func (c *Call) recorded() { c.done = true }

// storedAnswer reads c's key back, for a call whose claim is gone: when the
// key is DONE, its stored answer (result or domain error) is the call's,
// and ok is true; the call then counts as recorded.
func storedAnswer[T any](ctx context.Context, c *Call) (res T, ok bool, err error) {
	rec, rerr := c.idem.store.IdempotencyKey(ctx, c.userID, c.key)
	if rerr != nil || rec.Status != IdemDone {
		return res, false, nil
	}
	c.recorded()
	res, err = replay[T](rec.Response)
	return res, true, err
}

// ValidateIdempotencyKey checks docs/api.md's rule: 1–255 printable characters
// (at most 255 bytes). Printable is unicode.IsPrint: letters, marks,
// numbers, punctuation, symbols and the ASCII space; so no control
// characters (U+0085 included), line or paragraph separators (U+2028),
// format characters (bidi overrides such as U+202E, the BOM, zero-width
// spaces and joiners), other spaces, private-use or unassigned code points.
// Such keys look equal to others in logs and screens while they are not.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > 255 || !utf8.ValidString(key) {
		return BadInput("idempotencyKey", "idempotencyKey must be 1–255 printable characters")
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return BadInput("idempotencyKey", "idempotencyKey must be 1–255 printable characters")
		}
	}
	return nil
}

// Run executes fn at most once for (userID, key). input must be the
// operation's whole input: its hash tells a retry from a reuse. fn must call
// call.Complete in the transaction that writes its effect. Outcomes:
//   - a DONE key replays its stored result or domain error;
//   - a RUNNING key is REQUEST_IN_PROGRESS (or taken over once its lease lapsed);
//   - the same key with another operation or input is IDEMPOTENCY_KEY_REUSED;
//   - a domain error from fn is stored and replayed, except the retryable
//     ones (in progress, PG unavailable), for which the claim is released, as
//     it is for any non-domain error.
func Run[T any](ctx context.Context, idem *Idempotency, userID, key, operation string, input any, fn func(ctx context.Context, call *Call) (T, error)) (T, error) {
	var zero T
	if err := ValidateIdempotencyKey(key); err != nil {
		return zero, err
	}
	hash, err := requestHash(operation, input)
	if err != nil {
		return zero, err
	}
	now := idem.now().UTC()
	rec := IdempotencyRecord{
		UserID: userID, Key: key, Operation: operation, RequestHash: hash, Status: IdemRunning,
		Owner: NewID("own", now), LeaseUntil: now.Add(idem.lease), CreatedAt: now,
	}
	claimed, err := idem.claim(ctx, rec)
	if errors.Is(err, errBatchTimedOut) {
		// The claim may have been written all the same: give it back, so
		// that a retry does not wait out the lease. Bounded, as the claim
		// was; the owner is this attempt's alone.
		rctx, cancel := idem.claims.batchContext(ctx)
		defer cancel() // on an unwind too: the simulation's context ends with it
		if rerr := idem.store.ReleaseIdempotencyKey(rctx, userID, key, rec.Owner); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release idempotency key: %w", rerr))
		}
	}
	if err != nil {
		return zero, fmt.Errorf("claim idempotency key: %w", err)
	}
	if !claimed {
		existing, err := idem.store.IdempotencyKey(ctx, userID, key)
		if errors.Is(err, ErrNotFound) {
			// Released between our claim and our read: the caller may retry.
			return zero, ErrRequestInProgress
		}
		if err != nil {
			return zero, fmt.Errorf("read idempotency key: %w", err)
		}
		if existing.Operation != operation || existing.RequestHash != hash {
			return zero, ErrIdempotencyKeyReused
		}
		if existing.Status == IdemDone {
			return replay[T](existing.Response)
		}
		if !existing.LeaseUntil.Before(now) {
			return zero, ErrRequestInProgress
		}
		took, err := idem.store.TakeOverIdempotencyKey(ctx, rec, now)
		if err != nil {
			return zero, fmt.Errorf("take over idempotency key: %w", err)
		}
		if !took {
			return zero, ErrRequestInProgress
		}
	}

	call := &Call{idem: idem, userID: userID, key: key, owner: rec.Owner}
	res, err := fn(ctx, call)
	if err == nil {
		if !call.done {
			return zero, fmt.Errorf("operation %s did not record its idempotent result", operation)
		}
		return res, nil
	}
	// The effect was rolled back. Domain errors are part of the contract and
	// replayed; anything else frees the key so the same request can be retried.
	var de *Error
	if errors.As(err, &de) && replayable(de.Code) {
		// Background context: the answer must be stored even if the client left.
		saveCtx := context.WithoutCancel(ctx)
		serr := idem.store.InTx(saveCtx, func(q Queries) error {
			ok, err := call.complete(saveCtx, q, replayEnvelope{V: replayVersion, Error: de})
			if err == nil && !ok {
				return ErrRequestInProgress
			}
			return err
		})
		switch {
		case errors.Is(serr, ErrRequestInProgress):
			// Our lease lapsed and another request took the key over: its
			// answer, not ours, is the one the key will replay.
			return zero, ErrRequestInProgress
		case serr != nil:
			// Not recorded, so not the key's answer: a retry may get another
			// one. The caller hears a failure to retry, never the domain code
			// (the chaos suite saw INSUFFICIENT_BALANCE answered, then
			// INVALID_STATE replayed for the same key).
			if rerr := idem.store.ReleaseIdempotencyKey(context.WithoutCancel(ctx), userID, key, rec.Owner); rerr != nil {
				serr = errors.Join(serr, rerr)
			}
			return zero, fmt.Errorf("record the answer %s for idempotency key: %w", de.Code, serr)
		}
		return zero, err
	}
	if rerr := idem.store.ReleaseIdempotencyKey(context.WithoutCancel(ctx), userID, key, rec.Owner); rerr != nil {
		return zero, errors.Join(err, fmt.Errorf("release idempotency key: %w", rerr))
	}
	return zero, err
}

// replayable tells which domain errors are the operation's answer (stored and
// replayed) rather than a transient condition worth retrying with the same key.
func replayable(c Code) bool {
	switch c {
	case CodeRequestInProgress, CodePGUnavailable, CodeInternal, CodeUnauthenticated, CodePaymentInDoubt:
		return false
	}
	return true
}

func replay[T any](body []byte) (T, error) {
	var zero T
	var resp replayEnvelope
	if err := json.Unmarshal(body, &resp); err != nil {
		return zero, fmt.Errorf("decode idempotent response: %w", err)
	}
	if resp.V > replayVersion {
		// Stored by a newer pago (a rolling upgrade): not ours to guess.
		return zero, fmt.Errorf("idempotent response version %d is newer than %d", resp.V, replayVersion)
	}
	if resp.Error != nil {
		return zero, resp.Error
	}
	return decodeResult[T](resp.Result)
}

func requestHash(operation string, input any) (string, error) {
	b, err := json.Marshal(input) // struct fields marshal in declaration order: stable
	if err != nil {
		return "", fmt.Errorf("hash %s input: %w", operation, err)
	}
	h := sha256.New()
	h.Write([]byte(operation))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Prune deletes DONE keys created before now-retention.
func (idem *Idempotency) Prune(ctx context.Context, retention time.Duration) (int64, error) {
	n, err := idem.store.PruneIdempotencyKeys(ctx, idem.now().UTC().Add(-retention))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
