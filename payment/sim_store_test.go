package payment_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/pago/pago/payment"
)

// memDB is an in-memory model of pago's database with PostgreSQL's READ
// COMMITTED semantics, the most permissive isolation pago runs under:
//   - every statement is a yield point, so transactions interleave;
//   - a statement sees the latest committed rows plus its own transaction's
//     writes, never another transaction's uncommitted ones;
//   - an UPDATE or DELETE whose WHERE matches a row another open
//     transaction has written waits for that transaction to end, then
//     re-evaluates its WHERE on the row as committed (PostgreSQL's
//     EvalPlanQual); a row that does not match is skipped without waiting;
//   - an INSERT that collides with another transaction's uncommitted key
//     waits for it, then fails (or, ON CONFLICT DO NOTHING, does nothing);
//   - a wait that would close a cycle fails with a deadlock error, and any
//     error aborts the transaction, as PostgreSQL does.
//
// Rows live under string keys ("wal/<id>"); unique indexes are rows too
// ("wal_user/<user id>" holds the wallet id), so a unique violation and the
// wait on an uncommitted duplicate fall out of the row rules. lists are
// append-only secondary indexes whose entries are filtered by visibility;
// listed holds each (list, key) once, so a row inserted again after its
// first insert rolled back (a batch that went again) is listed once.
type memDB struct {
	s      *sim
	rows   map[string]any
	locks  map[string]*memTx
	lists  map[string][]string
	listed map[[2]string]bool
	open   map[*actor]*memTx // per actor: SQLite has one connection
	jobs   []*simJob
	// refused collects writes the schema's last line of defence refused
	// (balance and stock CHECKs, the history's unique (wallet_id, seq)):
	// any of them means a conditional update let through what it should
	// not have.
	refused []string
}

// memTx is one transaction's private state.
type memTx struct {
	writes   map[string]any
	jobs     []*simJob
	waitsFor *memTx
	aborted  error
	done     bool
	// refusals counts the refusals stored as idempotent answers.
	refusals int
}

// tombstone marks a deleted row in a write set.
type tombstone struct{}

// dbError is an error raised by the database (constraint, deadlock): it
// aborts the transaction it happens in.
type dbError struct {
	msg string
	is  error // the domain error the real store translates it to, if any
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.is }

func newMemDB(s *sim) *memDB {
	db := &memDB{s: s, rows: map[string]any{}, locks: map[string]*memTx{}, lists: map[string][]string{}, listed: map[[2]string]bool{}, open: map[*actor]*memTx{}}
	for _, a := range []struct {
		id   string
		kind payment.AccountKind
	}{
		{payment.AccountIDPGClearing, payment.AccountPGClearing}, {payment.AccountIDRevenue, payment.AccountRevenue},
		{payment.AccountIDAdjustments, payment.AccountAdjustments}, {payment.AccountIDRefunds, payment.AccountRefunds},
	} {
		db.rows["acc/"+a.id] = payment.LedgerAccount{ID: a.id, Kind: a.kind, Currency: payment.KRW, CreatedAt: simEpoch}
	}
	return db
}

func (db *memDB) begin() *memTx { return &memTx{writes: map[string]any{}} }

func (db *memDB) commit(tx *memTx) {
	for k, v := range tx.writes {
		if _, ok := v.(tombstone); ok {
			delete(db.rows, k)
		} else {
			db.rows[k] = v
		}
		delete(db.locks, k)
	}
	for _, j := range tx.jobs {
		db.addJob(j)
	}
	tx.done = true
}

func (db *memDB) rollback(tx *memTx) {
	for k := range tx.writes {
		delete(db.locks, k)
	}
	tx.done = true
}

// get reads key as tx sees it (tx may be nil: committed only).
func (db *memDB) get(tx *memTx, key string) (any, bool) {
	if tx != nil {
		if v, ok := tx.writes[key]; ok {
			if _, dead := v.(tombstone); dead {
				return nil, false
			}
			return v, true
		}
	}
	v, ok := db.rows[key]
	return v, ok
}

// waitFor blocks tx until holder ends, or fails if that would deadlock.
func (db *memDB) waitFor(tx, holder *memTx, key string) error {
	for h := holder; h != nil; h = h.waitsFor {
		if h == tx {
			db.s.count("db: deadlock")
			return &dbError{msg: "deadlock detected (waiting for " + key + ")"}
		}
	}
	db.s.count("db: row lock wait")
	tx.waitsFor = holder
	db.s.wait("row lock "+key, func() bool { return holder.done }, time.Time{})
	tx.waitsFor = nil
	return nil
}

// update applies fn to key's row if where holds, waiting on a concurrent
// writer as PostgreSQL does. fn may refuse with a dbError (a CHECK).
func (db *memDB) update(tx *memTx, key string, where func(any) bool, fn func(any) (any, error)) (bool, error) {
	for {
		if v, ok := tx.writes[key]; ok {
			if _, dead := v.(tombstone); dead || !where(v) {
				return false, nil
			}
			nv, err := fn(v)
			if err != nil {
				return false, err
			}
			tx.writes[key] = nv
			return true, nil
		}
		cur, ok := db.rows[key]
		if !ok || !where(cur) {
			return false, nil
		}
		if h := db.locks[key]; h != nil && h != tx {
			if err := db.waitFor(tx, h, key); err != nil {
				return false, err
			}
			continue // re-evaluate on the row as the other left it
		}
		nv, err := fn(cur)
		if err != nil {
			return false, err
		}
		db.locks[key] = tx
		tx.writes[key] = nv
		return true, nil
	}
}

// insert adds key; a duplicate is a unique violation, or nothing at all
// with doNothing (ON CONFLICT DO NOTHING).
func (db *memDB) insert(tx *memTx, key, constraint string, v any, doNothing bool) (bool, error) {
	for {
		if _, ok := db.get(tx, key); ok {
			if doNothing {
				return false, nil
			}
			var is error
			if constraint == "payments_pg_payment_key_idx" {
				is = payment.ErrPaymentKeyTaken // as store.dbErr translates it
			}
			return false, &dbError{"duplicate key value violates unique constraint " + constraint + " (" + key + ")", is}
		}
		if h := db.locks[key]; h != nil && h != tx {
			if err := db.waitFor(tx, h, key); err != nil {
				return false, err
			}
			continue
		}
		db.locks[key] = tx
		tx.writes[key] = v
		return true, nil
	}
}

// appendList records key under list; readers filter by visibility.
func (db *memDB) appendList(list, key string) {
	if db.listed[[2]string{list, key}] {
		return
	}
	db.listed[[2]string{list, key}] = true
	db.lists[list] = append(db.lists[list], key)
}

// visible returns list's rows that tx sees, in insertion order.
func visible[T any](db *memDB, tx *memTx, list string) []T {
	var out []T
	for _, k := range db.lists[list] {
		if v, ok := db.get(tx, k); ok {
			out = append(out, v.(T))
		}
	}
	return out
}

func getRow[T any](db *memDB, tx *memTx, key string) (T, bool) {
	v, ok := db.get(tx, key)
	if !ok {
		var zero T
		return zero, false
	}
	return v.(T), true
}

// memStore implements payment.Store (tx nil) and the Queries of one
// transaction (tx set).
type memStore struct {
	db *memDB
	tx *memTx
	// atOnce: the transaction is PayFromWallets', whose write's findings
	// are counted apart from those of a batch's own transaction.
	atOnce bool
}

var _ payment.Store = (*memStore)(nil)

// exec runs one statement: in st's transaction, or in its own.
func (st *memStore) exec(label string, fn func(tx *memTx) error) error {
	db := st.db
	db.s.yield(label)
	ended := db.s.batchEnded()
	if st.tx != nil {
		if st.tx.done {
			return errors.New(label + ": transaction already ended")
		}
		if st.tx.aborted != nil {
			return fmt.Errorf("%s: current transaction is aborted, commands ignored until end of transaction block (after %w)", label, st.tx.aborted)
		}
		if ended != nil {
			st.tx.aborted = ended // the driver cancels the statement
			return ended
		}
		err := fn(st.tx)
		var de *dbError
		if errors.As(err, &de) {
			st.tx.aborted = err
		}
		return err
	}
	db.outsideTx(label)
	tx := db.begin()
	if a := db.s.cur; a != nil {
		db.open[a] = tx // a crash mid-statement rolls it back
		defer delete(db.open, a)
	}
	if ended != nil {
		db.rollback(tx)
		return ended
	}
	if err := fn(tx); err != nil {
		db.rollback(tx)
		return err
	}
	db.commit(tx)
	if a := db.s.cur; a != nil && a.batch != nil {
		// The answer is on its way back: the batch's time may run out
		// first, the statement kept.
		db.s.yield(label + " answered")
		if err := db.s.batchEnded(); err != nil {
			return err
		}
	}
	return nil
}

// outsideTx flags a statement run outside the transaction the same actor
// has open: on SQLite's single connection that waits for itself forever.
func (db *memDB) outsideTx(label string) {
	if a := db.s.cur; a != nil {
		if open := db.open[a]; open != nil && !open.done {
			db.s.failf("%s: %s ran outside the transaction it has open (deadlocks SQLite's single connection)", a.name, label)
		}
	}
}

// InTx implements payment.Store.
func (st *memStore) InTx(ctx context.Context, fn func(q payment.Queries) error) error {
	db := st.db
	if st.tx != nil {
		return fn(st) // as store.Store: join the open transaction
	}
	db.s.yield("store.Begin")
	if err := db.s.batchEnded(); err != nil {
		return err
	}
	db.outsideTx("InTx")
	tx := db.begin()
	a := db.s.cur
	if a != nil {
		db.open[a] = tx // until it ends; a crash leaves it for crashed()
	}
	err := fn(&memStore{db: db, tx: tx})
	if err != nil {
		db.s.yield("store.Rollback")
		db.rollback(tx)
	} else {
		db.s.yield("store.Commit")
		switch ended := db.s.batchEnded(); {
		case tx.aborted != nil:
			db.rollback(tx)
			err = fmt.Errorf("commit: transaction was aborted: %w", tx.aborted)
		case ended != nil:
			// Cancelled during its COMMIT: kept or not, the caller cannot
			// tell.
			if db.s.chance(0.5) {
				db.s.count("deadline: a batch's commit kept, its answer lost")
				db.commit(tx)
			} else {
				db.rollback(tx)
			}
			err = ended
		default:
			db.commit(tx)
		}
	}
	if a != nil {
		delete(db.open, a)
	}
	return err
}

// crashed is the database noticing a's connection drop: its open
// transaction rolls back.
func (db *memDB) crashed(a *actor) {
	if tx := db.open[a]; tx != nil {
		if !tx.done {
			db.rollback(tx)
		}
		delete(db.open, a)
	}
}

// Ping implements payment.Store.
func (st *memStore) Ping(context.Context) error { return nil }

var errNotSimulated = errors.New("not simulated")

// refuse records a write the schema refused and returns its error.
func (db *memDB) refuse(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	db.refused = append(db.refused, msg)
	return &dbError{msg: msg}
}

func notFound(what string) error {
	return &payment.Error{Code: payment.CodeNotFound, Message: what + " not found"}
}

// Users.

// InsertUserIfAbsent implements payment.UserQueries.
func (st *memStore) InsertUserIfAbsent(_ context.Context, u payment.User) error {
	return st.exec("store.InsertUserIfAbsent", func(tx *memTx) error {
		ok, err := st.db.insert(tx, "usr_name/"+u.Name, "users_name_key", u.ID, true)
		if err != nil || !ok {
			return err
		}
		_, err = st.db.insert(tx, "usr/"+u.ID, "users_pkey", u, false)
		return err
	})
}

// UserByName implements payment.UserQueries.
func (st *memStore) UserByName(_ context.Context, name string) (payment.User, error) {
	var u payment.User
	err := st.exec("store.UserByName", func(tx *memTx) error {
		id, ok := getRow[string](st.db, tx, "usr_name/"+name)
		if ok {
			u, ok = getRow[payment.User](st.db, tx, "usr/"+id)
		}
		if !ok {
			return notFound("user")
		}
		return nil
	})
	return u, err
}

// User implements payment.UserQueries.
func (st *memStore) User(_ context.Context, id string) (payment.User, error) {
	var u payment.User
	err := st.exec("store.User", func(tx *memTx) error {
		var ok bool
		if u, ok = getRow[payment.User](st.db, tx, "usr/"+id); !ok {
			return notFound("user")
		}
		return nil
	})
	return u, err
}

// Idempotency keys.

func idemKey(userID, key string) string { return "idem/" + userID + "\x00" + key }

// ClaimIdempotencyKey implements payment.IdempotencyQueries.
func (st *memStore) ClaimIdempotencyKey(_ context.Context, r payment.IdempotencyRecord) (bool, error) {
	var ok bool
	err := st.exec("store.ClaimIdempotencyKey", func(tx *memTx) error {
		var err error
		ok, err = st.claimKey(tx, r)
		return err
	})
	return ok, err
}

// ClaimIdempotencyKeys implements payment.IdempotencyQueries as one
// statement: a key twice is claimed by its first record.
func (st *memStore) ClaimIdempotencyKeys(_ context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	var claimed []int
	err := st.exec("store.ClaimIdempotencyKeys", func(tx *memTx) error {
		claimed = nil
		for i, r := range rs {
			ok, err := st.claimKey(tx, r)
			if err != nil {
				return err
			}
			if ok {
				claimed = append(claimed, i)
			}
		}
		if len(claimed) >= 2 {
			st.db.s.count("db: one claim of two or more idempotency keys")
		}
		return nil
	})
	return claimed, err
}

func (st *memStore) claimKey(tx *memTx, r payment.IdempotencyRecord) (bool, error) {
	if _, exists := getRow[payment.User](st.db, tx, "usr/"+r.UserID); !exists {
		return false, &dbError{msg: "insert on idempotency_keys violates foreign key to users: " + r.UserID}
	}
	r.Status, r.Response = payment.IdemRunning, nil
	return st.db.insert(tx, idemKey(r.UserID, r.Key), "idempotency_keys_pkey", r, true)
}

// IdempotencyKey implements payment.IdempotencyQueries.
func (st *memStore) IdempotencyKey(_ context.Context, userID, key string) (payment.IdempotencyRecord, error) {
	var r payment.IdempotencyRecord
	err := st.exec("store.IdempotencyKey", func(tx *memTx) error {
		var ok bool
		if r, ok = getRow[payment.IdempotencyRecord](st.db, tx, idemKey(userID, key)); !ok {
			return notFound("idempotency key")
		}
		return nil
	})
	return r, err
}

// InsertIdempotencyDone implements payment.IdempotencyQueries: INSERT …
// ON CONFLICT DO NOTHING, which waits for an uncommitted duplicate.
func (st *memStore) InsertIdempotencyDone(_ context.Context, r payment.IdempotencyRecord) (bool, error) {
	var ok bool
	err := st.exec("store.InsertIdempotencyDone", func(tx *memTx) error {
		var err error
		ok, err = st.db.insertDone(tx, r)
		return err
	})
	return ok, err
}

// insertDone inserts r as a DONE key unless the key exists, counting the
// refusals stored.
func (db *memDB) insertDone(tx *memTx, r payment.IdempotencyRecord) (bool, error) {
	if _, exists := getRow[payment.User](db, tx, "usr/"+r.UserID); !exists {
		return false, &dbError{msg: "insert on idempotency_keys violates foreign key to users: " + r.UserID}
	}
	r.Status = payment.IdemDone
	ok, err := db.insert(tx, idemKey(r.UserID, r.Key), "idempotency_keys_pkey", r, true)
	var answer struct {
		Error json.RawMessage `json:"error"`
	}
	if ok && json.Unmarshal(r.Response, &answer) == nil && answer.Error != nil {
		tx.refusals++
	}
	return ok, err
}

// InsertIdempotencyDoneMany implements payment.IdempotencyQueries as one
// statement: each record as InsertIdempotencyDone, a key twice kept once.
func (st *memStore) InsertIdempotencyDoneMany(_ context.Context, rs []payment.IdempotencyRecord) ([]int, error) {
	var taken []int
	err := st.exec("store.InsertIdempotencyDoneMany", func(tx *memTx) error {
		taken = nil
		for i, r := range rs {
			ok, err := st.db.insertDone(tx, r)
			if err != nil {
				return err
			}
			if !ok {
				taken = append(taken, i)
			}
		}
		return nil
	})
	return taken, err
}

// TakeOverIdempotencyKey implements payment.IdempotencyQueries.
func (st *memStore) TakeOverIdempotencyKey(_ context.Context, r payment.IdempotencyRecord, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.TakeOverIdempotencyKey", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, idemKey(r.UserID, r.Key), func(v any) bool {
			c := v.(payment.IdempotencyRecord)
			return c.Status == payment.IdemRunning && c.LeaseUntil.Before(now) && c.RequestHash == r.RequestHash
		}, func(v any) (any, error) {
			c := v.(payment.IdempotencyRecord)
			c.Owner, c.LeaseUntil = r.Owner, r.LeaseUntil
			st.db.s.count("idempotency: lapsed claim taken over")
			return c, nil
		})
		return err
	})
	return ok, err
}

// CompleteIdempotencyKey implements payment.IdempotencyQueries.
func (st *memStore) CompleteIdempotencyKey(_ context.Context, userID, key, owner string, response []byte, _ time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.CompleteIdempotencyKey", func(tx *memTx) error {
		var err error
		ok, err = st.completeKey(tx, payment.IdempotencyCompletion{UserID: userID, Key: key, Owner: owner, Response: response})
		return err
	})
	return ok, err
}

// CompleteIdempotencyKeys implements payment.IdempotencyQueries: one UPDATE.
func (st *memStore) CompleteIdempotencyKeys(_ context.Context, cs []payment.IdempotencyCompletion, _ time.Time) ([]int, error) {
	var done []int
	err := st.exec("store.CompleteIdempotencyKeys", func(tx *memTx) error {
		done = nil
		for i, c := range cs {
			ok, err := st.completeKey(tx, c)
			if err != nil {
				return err
			}
			if ok {
				done = append(done, i)
			}
		}
		return nil
	})
	return done, err
}

func (st *memStore) completeKey(tx *memTx, c payment.IdempotencyCompletion) (bool, error) {
	return st.db.update(tx, idemKey(c.UserID, c.Key), func(v any) bool {
		r := v.(payment.IdempotencyRecord)
		return r.Status == payment.IdemRunning && r.Owner == c.Owner
	}, func(v any) (any, error) {
		r := v.(payment.IdempotencyRecord)
		r.Status, r.Response = payment.IdemDone, slices.Clone(c.Response)
		return r, nil
	})
}

// ReleaseIdempotencyKey implements payment.IdempotencyQueries.
func (st *memStore) ReleaseIdempotencyKey(_ context.Context, userID, key, owner string) error {
	return st.exec("store.ReleaseIdempotencyKey", func(tx *memTx) error {
		_, err := st.db.update(tx, idemKey(userID, key), func(v any) bool {
			c := v.(payment.IdempotencyRecord)
			return c.Status == payment.IdemRunning && c.Owner == owner
		}, func(any) (any, error) { return tombstone{}, nil })
		return err
	})
}

// PruneIdempotencyKeys implements payment.IdempotencyQueries.
func (st *memStore) PruneIdempotencyKeys(context.Context, time.Time) (int64, error) {
	return 0, errNotSimulated
}

// Wallets and the ledger.

// InsertLedgerAccount implements payment.WalletQueries.
func (st *memStore) InsertLedgerAccount(_ context.Context, a payment.LedgerAccount) error {
	return st.exec("store.InsertLedgerAccount", func(tx *memTx) error {
		_, err := st.db.insert(tx, "acc/"+a.ID, "ledger_accounts_pkey", a, false)
		return err
	})
}

// InsertWalletIfAbsent implements payment.WalletQueries.
func (st *memStore) InsertWalletIfAbsent(_ context.Context, w payment.Wallet) (bool, error) {
	var ok bool
	err := st.exec("store.InsertWalletIfAbsent", func(tx *memTx) error {
		if _, exists := st.db.get(tx, "acc/"+w.AccountID); !exists {
			return &dbError{msg: "insert on wallets violates foreign key to ledger_accounts: " + w.AccountID}
		}
		var err error
		if ok, err = st.db.insert(tx, "wal_user/"+w.UserID, "wallets_user_key", w.ID, true); err != nil || !ok {
			return err
		}
		w.Balance = payment.Money{Amount: 0, Currency: w.Limit.Currency}
		w.Version, w.UpdatedAt = 0, w.CreatedAt
		if _, err = st.db.insert(tx, "wal/"+w.ID, "wallets_pkey", w, false); err != nil {
			return err
		}
		st.db.appendList("wallets", "wal/"+w.ID)
		return nil
	})
	return ok, err
}

// WalletByUser implements payment.WalletQueries.
func (st *memStore) WalletByUser(_ context.Context, userID string) (payment.Wallet, error) {
	var w payment.Wallet
	err := st.exec("store.WalletByUser", func(tx *memTx) error {
		id, ok := getRow[string](st.db, tx, "wal_user/"+userID)
		if ok {
			w, ok = getRow[payment.Wallet](st.db, tx, "wal/"+id)
		}
		if !ok {
			return notFound("wallet")
		}
		return nil
	})
	return w, err
}

// Wallet implements payment.WalletQueries.
func (st *memStore) Wallet(_ context.Context, id string) (payment.Wallet, error) {
	var w payment.Wallet
	err := st.exec("store.Wallet", func(tx *memTx) error {
		var ok bool
		if w, ok = getRow[payment.Wallet](st.db, tx, "wal/"+id); !ok {
			return notFound("wallet")
		}
		return nil
	})
	return w, err
}

// DebitWallet implements payment.WalletQueries as sqlc/queries/wallets.sql:
// WHERE id = $id AND version = $version AND balance >= $amount.
func (st *memStore) DebitWallet(_ context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.DebitWallet", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "wal/"+id, func(v any) bool {
			w := v.(payment.Wallet)
			return w.Version == version && w.Balance.Amount >= amount
		}, func(v any) (any, error) {
			w := v.(payment.Wallet)
			w.Balance.Amount -= amount
			w.Version++
			w.UpdatedAt = now
			return w, st.db.checkWallet(w)
		})
		return err
	})
	return ok, err
}

// PayFromWallets implements payment.Store as store/walletbatch.go: the
// move of w.Paying to PAID and WriteWalletPayments in one transaction of
// its own, rolled back, with false, unless every part found the database
// as the batch read it.
func (st *memStore) PayFromWallets(ctx context.Context, w payment.WalletPaymentsWrite) (bool, error) {
	if st.tx != nil {
		return false, errors.New("pay from wallets: inside a transaction (it commits on its own)")
	}
	errNotAsRead := errors.New("not as read")
	err := st.InTx(ctx, func(q payment.Queries) error {
		q.(*memStore).atOnce = true
		// The look for splits first, as PostgreSQL's statement reads its
		// snapshot before it locks the orders; PostgreSQL's second guard,
		// the orders' updated_at, is left out, so that the simulation
		// shows the wallet's version alone enough.
		look := w
		look.Debits = nil
		if got, err := q.(*memStore).splitsUnderWay(look); err != nil || len(got) > 0 {
			if err == nil {
				err = errNotAsRead
			}
			return err
		}
		moved, err := q.TransitionOrders(ctx, w.Paying, payment.OrderPending, payment.OrderPaid, w.Now)
		if err != nil {
			return err
		}
		if len(moved) != len(w.Paying) {
			return errNotAsRead
		}
		w.Paying = nil // looked at already
		got, err := q.WriteWalletPayments(ctx, w)
		if err == nil && !got.Done {
			err = errNotAsRead
		}
		return err
	})
	if errors.Is(err, errNotAsRead) {
		st.db.s.count("db: a wallet batch at once found the database not as read")
		return false, nil
	}
	if err == nil {
		st.db.s.count("db: a wallet batch paid at once")
	}
	return err == nil, err
}

// SettleCardPayments implements payment.Store as store/cardbatch.go does
// on SQLite: payment.WriteCardSettle in one transaction of its own, rolled
// back, with false, unless the database was as the batch held it.
func (st *memStore) SettleCardPayments(ctx context.Context, w payment.CardSettleWrite) (bool, error) {
	if st.tx != nil {
		return false, errors.New("settle card payments: inside a transaction (it commits on its own)")
	}
	errNotAsRead := errors.New("not as read")
	err := st.InTx(ctx, func(q payment.Queries) error {
		asHeld, err := payment.WriteCardSettle(ctx, q, w)
		if err == nil && !asHeld {
			err = errNotAsRead
		}
		return err
	})
	if errors.Is(err, errNotAsRead) {
		st.db.s.count("db: a settle batch at once found the database not as held")
		return false, nil
	}
	if err == nil {
		st.db.s.count("db: a settle batch written at once")
	}
	return err == nil, err
}

// splitsUnderWay are the orders of w.Paying with a split under way, as
// one statement reads them.
func (st *memStore) splitsUnderWay(w payment.WalletPaymentsWrite) ([]string, error) {
	var got []string
	err := st.exec("store.WriteWalletPayments (its look)", func(tx *memTx) error {
		got = st.splitsIn(tx, w.Paying)
		return nil
	})
	return got, err
}

// splitsIn are the orders of ids with a split under way, as tx sees them,
// each once, in order.
func (st *memStore) splitsIn(tx *memTx, ids []string) []string {
	var got []string
	for _, id := range ids {
		if slices.ContainsFunc(visible[payment.Payment](st.db, tx, "pay/"+id), payment.IsOpenSplit) && !slices.Contains(got, id) {
			got = append(got, id)
		}
	}
	slices.Sort(got)
	return got
}

// WriteWalletPayments implements payment.WalletQueries as
// store/walletbatch.go: the look for splits under way on w.Paying and the
// answers as InsertIdempotencyDoneMany, in one step (one statement's
// snapshot), one conditional debit of each wallet by its payments' total
// and count, then every row.
func (st *memStore) WriteWalletPayments(ctx context.Context, w payment.WalletPaymentsWrite) (payment.WalletPaymentsWritten, error) {
	if st.tx == nil {
		var got payment.WalletPaymentsWritten
		err := st.InTx(ctx, func(q payment.Queries) error {
			var err error
			got, err = q.WriteWalletPayments(ctx, w)
			return err
		})
		return got, err
	}
	var got payment.WalletPaymentsWritten
	err := st.exec("store.WriteWalletPayments", func(tx *memTx) error {
		got = payment.WalletPaymentsWritten{Done: len(w.Debits) > 0, Splits: st.splitsIn(tx, w.Paying)}
		for i, r := range w.Answers {
			inserted, err := st.db.insertDone(tx, r)
			if err != nil {
				return err
			}
			if !inserted {
				got.Taken = append(got.Taken, i)
			}
		}
		if !st.atOnce && len(got.Splits) > 0 {
			st.db.s.count("db: a wallet batch's write found a split under way")
		}
		if !st.atOnce && len(got.Taken) > 0 {
			st.db.s.count("db: a wallet batch's answer found its key taken")
		}
		if len(got.Taken) > 0 || len(got.Splits) > 0 {
			got.Done = false
			return nil
		}
		for _, d := range w.Debits {
			debited, err := st.db.update(tx, "wal/"+d.WalletID, func(v any) bool {
				cur := v.(payment.Wallet)
				return cur.Version == d.Version && cur.Balance.Amount >= d.Amount
			}, func(v any) (any, error) {
				cur := v.(payment.Wallet)
				cur.Balance.Amount -= d.Amount
				cur.Version += d.Count
				cur.UpdatedAt = w.Now
				return cur, st.db.checkWallet(cur)
			})
			if err != nil || !debited {
				got.Done = false
				return err
			}
		}
		if got.Done && len(w.Payments) >= 2 {
			st.db.s.count("db: one write of two or more wallet payments")
		}
		if got.Done && len(w.Debits) >= 2 {
			st.db.s.count("db: one write from two or more wallets")
		}
		if got.Done && tx.refusals > 0 {
			st.db.s.count("db: a refusal stored with wallet payments")
		}
		return nil
	})
	if err != nil || !got.Done {
		return got, err
	}
	for _, t := range w.Ledger {
		if err := st.InsertLedgerTransaction(ctx, t); err != nil {
			return payment.WalletPaymentsWritten{}, err
		}
	}
	for _, t := range w.History {
		if err := st.InsertWalletTransaction(ctx, t); err != nil {
			return payment.WalletPaymentsWritten{}, err
		}
	}
	for _, p := range w.Payments {
		if err := st.InsertPayment(ctx, p); err != nil {
			return payment.WalletPaymentsWritten{}, err
		}
	}
	for _, e := range w.Events {
		if err := st.InsertPaymentEvent(ctx, e); err != nil {
			return payment.WalletPaymentsWritten{}, err
		}
	}
	return got, nil
}

// CreditWallet implements payment.WalletQueries as sqlc/queries/wallets.sql:
// WHERE id = $id AND version = $version AND balance + $amount <= balance_limit.
func (st *memStore) CreditWallet(_ context.Context, id string, version, amount int64, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.CreditWallet", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "wal/"+id, func(v any) bool {
			w := v.(payment.Wallet)
			return w.Version == version && w.Balance.Amount+amount <= w.Limit.Amount
		}, func(v any) (any, error) {
			w := v.(payment.Wallet)
			w.Balance.Amount += amount
			w.Version++
			w.UpdatedAt = now
			return w, st.db.checkWallet(w)
		})
		return err
	})
	return ok, err
}

// checkWallet is the wallets table's CHECK (balance >= 0).
func (db *memDB) checkWallet(w payment.Wallet) error {
	if w.Balance.Amount < 0 {
		return db.refuse("new row for wallets violates check constraint wallets_balance_check: wallet %s balance %d", w.ID, w.Balance.Amount)
	}
	return nil
}

// InsertWalletTransaction implements payment.WalletQueries.
func (st *memStore) InsertWalletTransaction(_ context.Context, t payment.WalletTransaction) error {
	return st.exec("store.InsertWalletTransaction", func(tx *memTx) error {
		if _, ok := st.db.get(tx, "wal/"+t.WalletID); !ok {
			return &dbError{msg: "insert on wallet_transactions violates foreign key to wallets: " + t.WalletID}
		}
		if _, ok := st.db.get(tx, "ltx/"+t.LedgerTransactionID); !ok {
			return &dbError{msg: "insert on wallet_transactions violates foreign key to ledger_transactions: " + t.LedgerTransactionID}
		}
		seqKey := "wtx_seq/" + t.WalletID + "/" + strconv.FormatInt(t.Seq, 10)
		if _, err := st.db.insert(tx, seqKey, "wallet_transactions_seq_key", t.ID, false); err != nil {
			st.db.refused = append(st.db.refused, err.Error())
			return err
		}
		if _, err := st.db.insert(tx, "wtx/"+t.ID, "wallet_transactions_pkey", t, false); err != nil {
			return err
		}
		st.db.appendList("wtx/"+t.WalletID, "wtx/"+t.ID)
		return nil
	})
}

// WalletTransactions implements payment.WalletQueries.
func (st *memStore) WalletTransactions(_ context.Context, walletID string, beforeSeq int64, limit int) ([]payment.WalletTransaction, error) {
	var out []payment.WalletTransaction
	err := st.exec("store.WalletTransactions", func(tx *memTx) error {
		for _, t := range visible[payment.WalletTransaction](st.db, tx, "wtx/"+walletID) {
			if t.Seq < beforeSeq {
				t.HoldStatus = st.holdStatusOf(tx, t.ID)
				out = append(out, t)
			}
		}
		slices.SortFunc(out, func(a, b payment.WalletTransaction) int { return cmp.Compare(b.Seq, a.Seq) })
		out = out[:min(len(out), limit)]
		return nil
	})
	return out, err
}

// InsertLedgerTransaction implements payment.WalletQueries.
func (st *memStore) InsertLedgerTransaction(_ context.Context, t payment.LedgerTransaction) error {
	return st.exec("store.InsertLedgerTransaction", func(tx *memTx) error { return st.insertLedger(tx, t) })
}

// InsertLedgerTransactions implements payment.WalletQueries: one statement.
func (st *memStore) InsertLedgerTransactions(_ context.Context, ts []payment.LedgerTransaction) error {
	return st.exec("store.InsertLedgerTransactions", func(tx *memTx) error {
		for _, t := range ts {
			if err := st.insertLedger(tx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

func (st *memStore) insertLedger(tx *memTx, t payment.LedgerTransaction) error {
	for _, e := range t.Entries {
		if e.Amount == 0 {
			return &dbError{msg: "new row for ledger_entries violates check constraint (amount <> 0)"}
		}
		if _, ok := st.db.get(tx, "acc/"+e.AccountID); !ok {
			return &dbError{msg: "insert on ledger_entries violates foreign key to ledger_accounts: " + e.AccountID}
		}
	}
	t.Entries = slices.Clone(t.Entries)
	if _, err := st.db.insert(tx, "ltx/"+t.ID, "ledger_transactions_pkey", t, false); err != nil {
		return err
	}
	st.db.appendList("ledger", "ltx/"+t.ID)
	return nil
}

// Products, orders and payments.

// UpsertProduct implements payment.OrderQueries.
func (st *memStore) UpsertProduct(_ context.Context, p payment.Product) (payment.Product, error) {
	var out payment.Product
	err := st.exec("store.UpsertProduct", func(tx *memTx) error {
		if id, ok := getRow[string](st.db, tx, "prd_sku/"+p.SKU); ok {
			_, err := st.db.update(tx, "prd/"+id, func(any) bool { return true }, func(v any) (any, error) {
				c := v.(payment.Product)
				c.Name, c.Price, c.Supplied, c.Stock, c.UpdatedAt = p.Name, p.Price, c.Supplied+p.Stock-c.Stock, p.Stock, p.UpdatedAt
				out = c
				return c, nil
			})
			return err
		}
		if _, err := st.db.insert(tx, "prd_sku/"+p.SKU, "products_sku_key", p.ID, false); err != nil {
			return err
		}
		p.Supplied, p.CreatedAt = p.Stock, p.UpdatedAt
		if _, err := st.db.insert(tx, "prd/"+p.ID, "products_pkey", p, false); err != nil {
			return err
		}
		st.db.appendList("products", "prd/"+p.ID)
		out = p
		return nil
	})
	return out, err
}

// Products implements payment.OrderQueries.
func (st *memStore) Products(context.Context) ([]payment.Product, error) {
	var out []payment.Product
	err := st.exec("store.Products", func(tx *memTx) error {
		out = visible[payment.Product](st.db, tx, "products")
		slices.SortFunc(out, func(a, b payment.Product) int { return cmp.Compare(a.SKU, b.SKU) })
		return nil
	})
	return out, err
}

// Product implements payment.OrderQueries.
func (st *memStore) Product(_ context.Context, id string) (payment.Product, error) {
	var p payment.Product
	err := st.exec("store.Product", func(tx *memTx) error {
		var ok bool
		if p, ok = getRow[payment.Product](st.db, tx, "prd/"+id); !ok {
			return notFound("product")
		}
		return nil
	})
	return p, err
}

// TakeStock implements payment.OrderQueries: WHERE id = $id AND stock >= $quantity.
func (st *memStore) TakeStock(_ context.Context, productID string, quantity int64, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.TakeStock", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "prd/"+productID, func(v any) bool {
			return v.(payment.Product).Stock >= quantity
		}, func(v any) (any, error) {
			p := v.(payment.Product)
			p.Stock -= quantity
			p.UpdatedAt = now
			return p, st.db.checkStock(p)
		})
		return err
	})
	return ok, err
}

// ReturnStock implements payment.OrderQueries.
func (st *memStore) ReturnStock(_ context.Context, productID string, quantity int64, now time.Time) error {
	return st.exec("store.ReturnStock", func(tx *memTx) error {
		_, err := st.db.update(tx, "prd/"+productID, func(any) bool { return true }, func(v any) (any, error) {
			p := v.(payment.Product)
			p.Stock += quantity
			p.UpdatedAt = now
			return p, st.db.checkStock(p)
		})
		return err
	})
}

func (db *memDB) checkStock(p payment.Product) error {
	if p.Stock < 0 {
		return db.refuse("new row for products violates check constraint (stock >= 0): product %s stock %d", p.ID, p.Stock)
	}
	return nil
}

// InsertOrder implements payment.OrderQueries.
func (st *memStore) InsertOrder(_ context.Context, o payment.Order) error {
	return st.exec("store.InsertOrder", func(tx *memTx) error {
		if o.Amount.Amount <= 0 {
			return &dbError{msg: "new row for orders violates check constraint (amount > 0)"}
		}
		for _, it := range o.Items {
			if _, ok := st.db.get(tx, "prd/"+it.ProductID); !ok {
				return &dbError{msg: "insert on order_items violates foreign key to products: " + it.ProductID}
			}
		}
		o.Status, o.RefundedAmount, o.UpdatedAt = payment.OrderPending, payment.Money{Amount: 0, Currency: o.Amount.Currency}, o.CreatedAt
		o.Items = slices.Clone(o.Items)
		slices.SortFunc(o.Items, func(a, b payment.OrderItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
		if _, err := st.db.insert(tx, "ord/"+o.ID, "orders_pkey", o, false); err != nil {
			return err
		}
		st.db.appendList("orders", "ord/"+o.ID)
		return nil
	})
}

// Order implements payment.OrderQueries.
func (st *memStore) Order(_ context.Context, id string) (payment.Order, error) {
	var o payment.Order
	err := st.exec("store.Order", func(tx *memTx) error {
		var ok bool
		if o, ok = getRow[payment.Order](st.db, tx, "ord/"+id); !ok {
			return notFound("order")
		}
		o.Items = slices.Clone(o.Items)
		return nil
	})
	return o, err
}

// Orders implements payment.OrderQueries.
func (st *memStore) Orders(context.Context, string, payment.OrderStatus, string, int) ([]payment.Order, error) {
	return nil, errNotSimulated
}

// TransitionOrders implements payment.OrderQueries: WHERE status = $from
// AND id IN (…), one statement (an id listed twice moves once).
func (st *memStore) TransitionOrders(_ context.Context, ids []string, from, to payment.OrderStatus, now time.Time) ([]string, error) {
	var moved []string
	err := st.exec("store.TransitionOrders", func(tx *memTx) error {
		moved = nil
		for _, id := range ids {
			if slices.Contains(moved, id) {
				continue
			}
			ok, err := st.db.moveOrder(tx, id, from, to, now)
			if err != nil {
				return err
			}
			if ok {
				moved = append(moved, id)
			}
		}
		return nil
	})
	return moved, err
}

// OpenOrderUsage implements payment.OrderQueries.
func (st *memStore) OpenOrderUsage(_ context.Context, userID string) (int, int64, error) {
	var orders int
	var units int64
	err := st.exec("store.OpenOrderUsage", func(tx *memTx) error {
		for _, o := range visible[payment.Order](st.db, tx, "orders") {
			if o.UserID != userID || o.Status != payment.OrderPending {
				continue
			}
			orders++
			for _, it := range o.Items {
				units += it.Quantity
			}
		}
		return nil
	})
	return orders, units, err
}

// TransitionOrder implements payment.OrderQueries: WHERE id = $id AND status = $from.
func (st *memStore) TransitionOrder(_ context.Context, id string, from, to payment.OrderStatus, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.TransitionOrder", func(tx *memTx) error {
		var err error
		ok, err = st.db.moveOrder(tx, id, from, to, now)
		return err
	})
	return ok, err
}

// moveOrder is UPDATE orders SET status = to WHERE id AND status = from.
func (db *memDB) moveOrder(tx *memTx, id string, from, to payment.OrderStatus, now time.Time) (bool, error) {
	return db.update(tx, "ord/"+id, func(v any) bool { return v.(payment.Order).Status == from }, func(v any) (any, error) {
		o := v.(payment.Order)
		o.Status, o.UpdatedAt = to, now
		return o, nil
	})
}

// ExpireOrder implements payment.OrderQueries: WHERE status = 'PENDING' AND expires_at <= $now.
func (st *memStore) ExpireOrder(_ context.Context, id string, now time.Time) (bool, error) {
	var ok bool
	err := st.exec("store.ExpireOrder", func(tx *memTx) error {
		var err error
		ok, err = st.db.update(tx, "ord/"+id, func(v any) bool {
			o := v.(payment.Order)
			return o.Status == payment.OrderPending && !o.ExpiresAt.After(now)
		}, func(v any) (any, error) {
			o := v.(payment.Order)
			o.Status, o.UpdatedAt = payment.OrderExpired, now
			return o, nil
		})
		return err
	})
	return ok, err
}

// InsertPayment implements payment.OrderQueries: the payment and its
// history in one statement, as on PostgreSQL.
func (st *memStore) InsertPayment(_ context.Context, p payment.Payment, history ...payment.PaymentEvent) error {
	return st.exec("store.InsertPayment", func(tx *memTx) error {
		_, err := st.insertPayment(tx, p, history, false)
		return err
	})
}

// InsertPayments implements payment.OrderQueries: one statement, ON
// CONFLICT DO NOTHING, whose events go only with the payments inserted.
func (st *memStore) InsertPayments(_ context.Context, ps []payment.Payment, history []payment.PaymentEvent) ([]string, error) {
	var inserted []string
	err := st.exec("store.InsertPayments", func(tx *memTx) error {
		inserted = nil
		for _, p := range ps {
			ok, err := st.insertPayment(tx, p, eventsOf(history, p.ID), true)
			if err != nil {
				return err
			}
			if ok {
				inserted = append(inserted, p.ID)
			}
		}
		if len(inserted) >= 2 {
			st.db.s.count("db: one insert of two or more card payments")
		}
		return nil
	})
	return inserted, err
}

// insertPayment writes p and its history in tx; with doNothing a taken
// key or id skips it (false) rather than failing the statement.
func (st *memStore) insertPayment(tx *memTx, p payment.Payment, history []payment.PaymentEvent, doNothing bool) (bool, error) {
	if _, ok := st.db.get(tx, "ord/"+p.OrderID); !ok {
		return false, &dbError{msg: "insert on payments violates foreign key to orders: " + p.OrderID}
	}
	if doNothing {
		if _, taken := st.db.get(tx, "pay/"+p.ID); taken {
			return false, nil
		}
	}
	if p.PGPaymentKey != "" {
		ok, err := st.db.insert(tx, "pay_pgkey/"+p.PGPaymentKey, "payments_pg_payment_key_idx", p.ID, doNothing)
		if err != nil || !ok {
			return false, err
		}
	}
	p.RefundedAmount, p.Version, p.UpdatedAt = payment.Money{Amount: 0, Currency: p.Amount.Currency}, 0, p.CreatedAt
	p.FailureCode, p.FailureMessage, p.ConfirmAttempt, p.RefundDecidedAt = "", "", 0, nil // not columns of the INSERT
	if _, err := st.db.insert(tx, "pay/"+p.ID, "payments_pkey", p, false); err != nil {
		return false, err
	}
	st.db.appendList("payments", "pay/"+p.ID)
	st.db.appendList("pay/"+p.OrderID, "pay/"+p.ID)
	return true, st.insertEvents(tx, history)
}

// eventsOf is the events of one payment among history.
func eventsOf(history []payment.PaymentEvent, paymentID string) []payment.PaymentEvent {
	var out []payment.PaymentEvent
	for _, e := range history {
		if e.PaymentID == paymentID {
			out = append(out, e)
		}
	}
	return out
}

// Payment implements payment.OrderQueries.
func (st *memStore) Payment(_ context.Context, id string) (payment.Payment, error) {
	var p payment.Payment
	err := st.exec("store.Payment", func(tx *memTx) error {
		var ok bool
		if p, ok = getRow[payment.Payment](st.db, tx, "pay/"+id); !ok {
			return notFound("payment")
		}
		return nil
	})
	return p, err
}

// PaymentsByOrder implements payment.OrderQueries.
func (st *memStore) PaymentsByOrder(_ context.Context, orderID string) ([]payment.Payment, error) {
	var out []payment.Payment
	err := st.exec("store.PaymentsByOrder", func(tx *memTx) error {
		out = visible[payment.Payment](st.db, tx, "pay/"+orderID)
		slices.SortStableFunc(out, func(a, b payment.Payment) int { return a.CreatedAt.Compare(b.CreatedAt) })
		return nil
	})
	return out, err
}

// InsertPaymentEvent implements payment.OrderQueries.
func (st *memStore) InsertPaymentEvent(_ context.Context, e payment.PaymentEvent) error {
	return st.exec("store.InsertPaymentEvent", func(tx *memTx) error { return st.insertEvents(tx, []payment.PaymentEvent{e}) })
}

func (st *memStore) insertEvents(tx *memTx, es []payment.PaymentEvent) error {
	for _, e := range es {
		if _, ok := st.db.get(tx, "pay/"+e.PaymentID); !ok {
			return &dbError{msg: "insert on payment_events violates foreign key to payments: " + e.PaymentID}
		}
		if _, err := st.db.insert(tx, "pev/"+e.ID, "payment_events_pkey", e, false); err != nil {
			return err
		}
		st.db.appendList("pev/"+e.PaymentID, "pev/"+e.ID)
	}
	return nil
}

// PaymentEvents implements payment.OrderQueries: ORDER BY id, which is
// creation time because ids start with it (ties keep insertion order).
func (st *memStore) PaymentEvents(_ context.Context, paymentID string) ([]payment.PaymentEvent, error) {
	var out []payment.PaymentEvent
	err := st.exec("store.PaymentEvents", func(tx *memTx) error {
		out = visible[payment.PaymentEvent](st.db, tx, "pev/"+paymentID)
		slices.SortStableFunc(out, func(a, b payment.PaymentEvent) int { return a.CreatedAt.Compare(b.CreatedAt) })
		return nil
	})
	return out, err
}

// PaymentByPGKey implements payment.OrderQueries.
func (st *memStore) PaymentByPGKey(_ context.Context, paymentKey string) (payment.Payment, error) {
	var p payment.Payment
	err := st.exec("store.PaymentByPGKey", func(tx *memTx) error {
		id, ok := getRow[string](st.db, tx, "pay_pgkey/"+paymentKey)
		if ok {
			p, ok = getRow[payment.Payment](st.db, tx, "pay/"+id)
		}
		if !ok {
			return notFound("payment")
		}
		return nil
	})
	return p, err
}

// LockPayment implements payment.OrderQueries: a no-op UPDATE … RETURNING,
// which takes the row lock (waiting for a concurrent writer) as both engines do.
func (st *memStore) LockPayment(_ context.Context, id string) (payment.Payment, error) {
	var p payment.Payment
	err := st.exec("store.LockPayment", func(tx *memTx) error {
		ok, err := st.db.update(tx, "pay/"+id, func(any) bool { return true }, func(v any) (any, error) {
			p = v.(payment.Payment)
			return v, nil
		})
		if err == nil && !ok {
			return notFound("payment")
		}
		return err
	})
	return p, err
}

// LockPayments implements payment.OrderQueries: SELECT … ORDER BY id FOR
// UPDATE, one statement; a missing payment is left out.
func (st *memStore) LockPayments(_ context.Context, ids []string) ([]payment.Payment, error) {
	var out []payment.Payment
	err := st.exec("store.LockPayments", func(tx *memTx) error {
		out = nil
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		for _, id := range slices.Compact(sorted) {
			_, err := st.db.update(tx, "pay/"+id, func(any) bool { return true }, func(v any) (any, error) {
				out = append(out, v.(payment.Payment))
				return v, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// UpdatePayment implements payment.OrderQueries: WHERE id = $id AND
// version = $version, and history appended in the same statement when it wrote.
func (st *memStore) UpdatePayment(_ context.Context, p payment.Payment, now time.Time, history ...payment.PaymentEvent) (bool, error) {
	var ok bool
	err := st.exec("store.UpdatePayment", func(tx *memTx) error {
		var err error
		ok, err = st.updatePayment(tx, p, now, history)
		return err
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// UpdatePayments implements payment.OrderQueries: one UPDATE … FROM
// VALUES, whose events go only with the payments written.
func (st *memStore) UpdatePayments(_ context.Context, ps []payment.Payment, now time.Time, history []payment.PaymentEvent) ([]string, error) {
	var written []string
	err := st.exec("store.UpdatePayments", func(tx *memTx) error {
		written = nil
		for _, p := range ps {
			ok, err := st.updatePayment(tx, p, now, eventsOf(history, p.ID))
			if err != nil {
				return err
			}
			if ok {
				written = append(written, p.ID)
			}
		}
		if len(written) >= 2 {
			st.db.s.count("db: one write of two or more card settles")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return written, nil
}

func (st *memStore) updatePayment(tx *memTx, p payment.Payment, now time.Time, history []payment.PaymentEvent) (bool, error) {
	cur, found := getRow[payment.Payment](st.db, tx, "pay/"+p.ID)
	ok, err := st.db.update(tx, "pay/"+p.ID, func(v any) bool { return v.(payment.Payment).Version == p.Version }, func(v any) (any, error) {
		old := v.(payment.Payment)
		n := p
		n.OrderID, n.Method, n.Amount, n.PGIdempotencyKey, n.CreatedAt = old.OrderID, old.Method, old.Amount, old.PGIdempotencyKey, old.CreatedAt
		n.WalletAmount = old.WalletAmount
		n.Version, n.UpdatedAt = old.Version+1, now
		return n, nil
	})
	if err != nil || !ok {
		return false, err // a stale version writes nothing, its key included
	}
	// The key's unique index, as the UPDATE's own check: a taken key
	// fails the statement, and the caller rolls the transaction back.
	if found && cur.PGPaymentKey != p.PGPaymentKey && p.PGPaymentKey != "" {
		if _, err := st.db.insert(tx, "pay_pgkey/"+p.PGPaymentKey, "payments_pg_payment_key_idx", p.ID, false); err != nil {
			return false, err
		}
	}
	if found && cur.PGPaymentKey != "" && cur.PGPaymentKey != p.PGPaymentKey {
		if _, err := st.db.update(tx, "pay_pgkey/"+cur.PGPaymentKey, func(any) bool { return true },
			func(any) (any, error) { return tombstone{}, nil }); err != nil {
			return false, err
		}
	}
	return true, st.insertEvents(tx, history)
}

// PaymentsByStatus implements payment.OrderQueries.
func (st *memStore) PaymentsByStatus(_ context.Context, status payment.PaymentStatus, before string, limit int) ([]payment.Payment, error) {
	var out []payment.Payment
	err := st.exec("store.PaymentsByStatus", func(tx *memTx) error {
		for _, p := range visible[payment.Payment](st.db, tx, "payments") {
			if p.Status == status && p.ID < before {
				out = append(out, p)
			}
		}
		slices.SortFunc(out, func(a, b payment.Payment) int { return cmp.Compare(b.ID, a.ID) })
		out = out[:min(len(out), limit)]
		return nil
	})
	return out, err
}

// Jobs: the transactional outbox. A job exists once the transaction that
// enqueued it commits; the simulation's workers run it.

type jobKind string

const (
	jobProbe   jobKind = "probe_payment"
	jobExpire  jobKind = "expire_order"
	jobWebhook jobKind = "pg_webhook"
)

type jobState int

const (
	jobAvailable jobState = iota
	jobRunning
	jobCompleted
	jobDiscarded
)

type simJob struct {
	kind     jobKind
	arg      string // payment id, order id or payment key
	dedupe   string
	at       time.Time
	created  time.Time
	attempts int
	max      int
	state    jobState
	lastErr  error
	rerun    bool
}

func (st *memStore) enqueue(label string, j *simJob) error {
	return st.exec(label, func(tx *memTx) error {
		j.created = st.db.s.now
		tx.jobs = append(tx.jobs, j)
		return nil
	})
}

// addJob makes a committed job visible to workers; a webhook job is unique
// by its arguments for a day, as River's UniqueOpts in store.EnqueueWebhook.
func (db *memDB) addJob(j *simJob) {
	if j.kind == jobWebhook {
		for _, o := range db.jobs {
			if o.kind == jobWebhook && o.dedupe == j.dedupe && o.arg == j.arg && j.created.Sub(o.created) < 24*time.Hour {
				return
			}
		}
	}
	db.jobs = append(db.jobs, j)
}

// EnqueueOrderExpiry implements payment.OrderQueries.
func (st *memStore) EnqueueOrderExpiry(_ context.Context, orderID string, at time.Time) error {
	return st.enqueue("store.EnqueueOrderExpiry", &simJob{kind: jobExpire, arg: orderID, at: at, max: 10})
}

// EnqueuePaymentProbe implements payment.OrderQueries.
func (st *memStore) EnqueuePaymentProbe(_ context.Context, paymentID string, at time.Time) error {
	return st.enqueue("store.EnqueuePaymentProbe", &simJob{kind: jobProbe, arg: paymentID, at: at, max: 40})
}

// EnqueuePaymentProbes implements payment.OrderQueries: one insert.
func (st *memStore) EnqueuePaymentProbes(_ context.Context, paymentIDs []string, at time.Time) error {
	return st.exec("store.EnqueuePaymentProbes", func(tx *memTx) error {
		for _, id := range paymentIDs {
			tx.jobs = append(tx.jobs, &simJob{kind: jobProbe, arg: id, at: at, max: 40, created: st.db.s.now})
		}
		return nil
	})
}

// EnqueueWebhook implements payment.OrderQueries.
func (st *memStore) EnqueueWebhook(_ context.Context, dedupeKey, paymentKey string) error {
	return st.enqueue("store.EnqueueWebhook", &simJob{kind: jobWebhook, arg: paymentKey, dedupe: dedupeKey, at: st.db.s.now, max: 20})
}

// Violations implements payment.Queries with the checks of
// sqlc/queries/verify.sql, in one read.
func (st *memStore) Violations(context.Context) ([]payment.Violation, error) {
	var out []payment.Violation
	add := func(check, format string, args ...any) {
		out = append(out, payment.Violation{Check: check, Detail: fmt.Sprintf(format, args...)})
	}
	err := st.exec("store.Violations", func(tx *memTx) error {
		db := st.db
		perAccount := map[string]int64{}
		for _, t := range visible[payment.LedgerTransaction](db, tx, "ledger") {
			var sum int64
			for _, e := range t.Entries {
				sum += e.Amount
				perAccount[e.AccountID] += e.Amount
			}
			if sum != 0 {
				add("ledger_balanced", "ledger transaction %s sums to %d", t.ID, sum)
			}
		}
		held := st.openHeld(tx)
		for _, w := range visible[payment.Wallet](db, tx, "wallets") {
			if total := perAccount[w.AccountID]; total-held[w.ID] != w.Balance.Amount {
				add("wallet_equals_ledger", "wallet %s balance %d, ledger account sums to %d, open holds %d", w.ID, w.Balance.Amount, total, held[w.ID])
			}
			var last payment.WalletTransaction
			for _, t := range visible[payment.WalletTransaction](db, tx, "wtx/"+w.ID) {
				if t.Seq > last.Seq {
					last = t
				}
			}
			if last.BalanceAfter.Amount != w.Balance.Amount {
				add("wallet_equals_history", "wallet %s balance %d, last transaction says %d", w.ID, w.Balance.Amount, last.BalanceAfter.Amount)
			}
		}
		stockHeld := map[string]int64{}
		orders := visible[payment.Order](db, tx, "orders")
		for _, o := range orders {
			switch o.Status {
			case payment.OrderPending, payment.OrderInDoubt, payment.OrderPaid, payment.OrderPartiallyRefunded:
				for _, it := range o.Items {
					stockHeld[it.ProductID] += it.Quantity
				}
			}
		}
		for _, p := range visible[payment.Product](db, tx, "products") {
			if p.Stock+stockHeld[p.ID] != p.Supplied {
				add("stock_adds_up", "product %s: stock %d + held %d != supplied %d", p.ID, p.Stock, stockHeld[p.ID], p.Supplied)
			}
		}
		for _, o := range orders {
			var paid int64
			var done string
			for _, p := range visible[payment.Payment](db, tx, "pay/"+o.ID) {
				switch p.Status {
				case payment.PaymentDone, payment.PaymentPartiallyCanceled, payment.PaymentCanceled:
					paid += p.Amount.Amount
				}
				if p.Status == payment.PaymentDone {
					done = p.ID
				}
			}
			switch o.Status {
			case payment.OrderPaid, payment.OrderPartiallyRefunded, payment.OrderRefunded:
				if paid != o.Amount.Amount {
					add("paid_orders_paid", "order %s amount %d, completed payments %d", o.ID, o.Amount.Amount, paid)
				}
			default:
				if done != "" {
					add("unpaid_orders_unpaid", "order %s is %s but payment %s is DONE", o.ID, o.Status, done)
				}
			}
		}
		st.refundViolations(tx, add)
		st.holdViolations(tx, add)
		return nil
	})
	return out, err
}

// The batch reads (payment.BatchQueries) read several rows in one
// statement, as store/batch.go does: one step, one snapshot, each row
// once however often its id is listed.

// OrdersByIDs implements payment.BatchQueries.
func (st *memStore) OrdersByIDs(_ context.Context, ids []string) ([]payment.Order, error) {
	return readSeveral(st, "OrdersByIDs", ids, func(tx *memTx, id string) []payment.Order {
		o, ok := getRow[payment.Order](st.db, tx, "ord/"+id)
		if !ok {
			return nil
		}
		o.Items = slices.Clone(o.Items)
		return []payment.Order{o}
	})
}

// OrdersWithWallets implements payment.WalletQueries as
// store/orders.go: the orders and each owner's wallet once, in one step
// (one statement's snapshot).
func (st *memStore) OrdersWithWallets(_ context.Context, ids []string) ([]payment.Order, []payment.Wallet, error) {
	var orders []payment.Order
	var wallets []payment.Wallet
	err := st.exec("store.OrdersWithWallets", func(tx *memTx) error {
		orders, wallets = nil, nil
		for _, id := range distinct(ids) {
			o, ok := getRow[payment.Order](st.db, tx, "ord/"+id)
			if !ok {
				continue
			}
			o.Items = slices.Clone(o.Items)
			orders = append(orders, o)
			wid, ok := getRow[string](st.db, tx, "wal_user/"+o.UserID)
			if !ok {
				continue
			}
			if w, ok := getRow[payment.Wallet](st.db, tx, "wal/"+wid); ok && !slices.ContainsFunc(wallets, func(x payment.Wallet) bool { return x.ID == w.ID }) {
				wallets = append(wallets, w)
			}
		}
		if len(orders) > 1 && len(wallets) > 1 {
			st.db.s.count("db: one read of several orders and their owners' wallets")
		}
		return nil
	})
	return orders, wallets, err
}

// PaymentsByOrders implements payment.BatchQueries.
func (st *memStore) PaymentsByOrders(_ context.Context, orderIDs []string) ([]payment.Payment, error) {
	return readSeveral(st, "PaymentsByOrders", orderIDs, func(tx *memTx, id string) []payment.Payment {
		ps := visible[payment.Payment](st.db, tx, "pay/"+id)
		slices.SortStableFunc(ps, func(a, b payment.Payment) int { return a.CreatedAt.Compare(b.CreatedAt) })
		return ps
	})
}

// PaymentsByPGKeys implements payment.BatchQueries.
func (st *memStore) PaymentsByPGKeys(_ context.Context, keys []string) ([]payment.Payment, error) {
	return readSeveral(st, "PaymentsByPGKeys", keys, func(tx *memTx, key string) []payment.Payment {
		if id, ok := getRow[string](st.db, tx, "pay_pgkey/"+key); ok {
			if p, ok := getRow[payment.Payment](st.db, tx, "pay/"+id); ok {
				return []payment.Payment{p}
			}
		}
		return nil
	})
}

// PaymentEventsByPayments implements payment.BatchQueries.
func (st *memStore) PaymentEventsByPayments(_ context.Context, paymentIDs []string) ([]payment.PaymentEvent, error) {
	return readSeveral(st, "PaymentEventsByPayments", paymentIDs, func(tx *memTx, id string) []payment.PaymentEvent {
		es := visible[payment.PaymentEvent](st.db, tx, "pev/"+id)
		slices.SortStableFunc(es, func(a, b payment.PaymentEvent) int { return a.CreatedAt.Compare(b.CreatedAt) })
		return es
	})
}

// readSeveral is one batch read named what: in one step, the rows of each
// id read once (rowsOf).
func readSeveral[T any](st *memStore, what string, ids []string, rowsOf func(tx *memTx, id string) []T) ([]T, error) {
	var out []T
	err := st.exec("store."+what, func(tx *memTx) error {
		out = nil
		st.db.s.count("db: one read of several rows by " + what)
		for _, id := range distinct(ids) {
			out = append(out, rowsOf(tx, id)...)
		}
		return nil
	})
	return out, err
}

// distinct is ids without repeats, in first-seen order.
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
