package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/pago/pago/pg/sandbox"
)

// A shopper is one customer of the chaos run: a seeded sequence of the
// things customers do (buy with the wallet or a card, top up, double-click,
// refresh the success page, cancel, walk away), sent to whichever pago
// instance is up, the way a client behind a load balancer sees the cluster.

const (
	createWalletM = `mutation($k: String!) { createWallet(input: {idempotencyKey: $k}) { wallet { id balance } } }`
	createOrderM  = `mutation($k: String!, $kind: OrderKind, $items: [OrderItemInput!], $amount: Money) {
  createOrder(input: {idempotencyKey: $k, kind: $kind, items: $items, amount: $amount}) { order { id kind status amount } } }`
	payWithWalletM = `mutation($k: String!, $o: ID!) { payWithWallet(input: {idempotencyKey: $k, orderId: $o}) {
  order { id status } payment { id status amount } wallet { id balance } } }`
	confirmPaymentM = `mutation($k: String!, $o: ID!, $pk: String!, $a: Money!) {
  confirmPayment(input: {idempotencyKey: $k, orderId: $o, paymentKey: $pk, amount: $a}) { order { id status } payment { id status } } }`
	cancelOrderM  = `mutation($k: String!, $o: ID!) { cancelOrder(input: {idempotencyKey: $k, orderId: $o}) { order { id status } } }`
	adjustWalletM = `mutation($k: String!, $u: ID!, $a: Money!) {
  adjustWallet(input: {idempotencyKey: $k, userId: $u, amount: $a, reason: "chaos credit"}) { wallet { id balance } } }`
	upsertProductM = `mutation($k: String!, $sku: String!, $p: Money!, $s: Int!) {
  upsertProduct(input: {idempotencyKey: $k, sku: $sku, name: $sku, price: $p, stock: $s}) { product { id price } } }`
	cancelPaymentM = `mutation($k: String!, $o: ID!, $a: Money, $r: String!) {
  cancelPayment(input: {idempotencyKey: $k, orderId: $o, amount: $a, reason: $r}) { refund { id status amount } } }`
	startSplitM = `mutation($k: String!, $o: ID!, $w: Money!) {
  startSplitPayment(input: {idempotencyKey: $k, orderId: $o, walletAmount: $w}) { cardAmount payment { id method status } } }`
	checkoutURLQ = `query($id: ID!) { order(id: $id) { checkoutUrl } }`
	meQ          = `query { me { id } }`
	walletLimitQ = `query { wallet { balance limit } }`
)

// keyRecord is a mutation and the answer it finally got, replayed after the
// run: the same key must give the same answer.
type keyRecord struct {
	token, query string
	vars         map[string]any
	answer       string // canonical JSON of data, or the error code
}

// answerOf is what a replay must reproduce: the data, or the error's code.
func answerOf(r gqlResponse) string {
	if c := r.code(); c != "" {
		return "error " + c
	}
	var v any
	_ = json.Unmarshal(r.Data, &v)
	b, _ := json.Marshal(v) // map keys sorted: a canonical form
	return string(b)
}

// transient tells the answers a careful client retries with the same key.
func transient(code string) bool {
	switch code {
	case "REQUEST_IN_PROGRESS", "PG_UNAVAILABLE", "INTERNAL":
		return true
	}
	return false
}

// errNoAnswer is a request that never got an answer from any instance.
var errNoAnswer = errors.New("no instance answered")

// call sends one GraphQL request to a live instance, and again (same key)
// after a transport error or a transient answer, for up to ~20 s. A
// final answer to a mutation is recorded for the replay check.
func (r *chaosRun) call(token, query string, vars map[string]any, record bool) (gqlResponse, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return gqlResponse{}, err
	}
	var last gqlResponse
	lastErr := errNoAnswer
	for attempt := 0; attempt < 60; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		}
		live := r.c.live()
		if len(live) == 0 {
			continue
		}
		p := live[rand.IntN(len(live))]
		resp, err := r.post(p.url+"/graphql", token, body)
		if err != nil {
			lastErr = err
			continue
		}
		last, lastErr = resp, nil
		if resp.Status >= 500 && len(resp.Errors) == 0 && resp.Data == nil {
			lastErr = fmt.Errorf("status %d", resp.Status)
			continue
		}
		if transient(resp.code()) {
			continue
		}
		if record && resp.code() != "PAYMENT_IN_DOUBT" {
			r.recordKey(keyRecord{token: token, query: query, vars: vars, answer: answerOf(resp)})
		}
		return resp, nil
	}
	return last, lastErr
}

// post is one attempt; a non-JSON answer (a proxy error page) is an error.
func (r *chaosRun) post(url, token string, body []byte) (gqlResponse, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return gqlResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return gqlResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return gqlResponse{}, err
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return gqlResponse{}, fmt.Errorf("status %d, body %.200q: %w", resp.StatusCode, raw, err)
	}
	out.Status = resp.StatusCode
	return out, nil
}

func (r *chaosRun) recordKey(k keyRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, k)
}

// tally counts one outcome of a customer action.
func (r *chaosRun) tally(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions[what]++
}

type shopper struct {
	run   *chaosRun
	name  string
	token string
	rng   *rand.Rand
	n     int // keys minted
}

// key mints a fresh idempotency key, deterministic per seed and shopper.
func (s *shopper) key(op string) string {
	s.n++
	return fmt.Sprintf("%s-%s-%d", op, s.name, s.n)
}

// twice sends the same request twice at once: a double click.
func (s *shopper) twice(query string, vars map[string]any) gqlResponse {
	var wg sync.WaitGroup
	var a, b gqlResponse
	wg.Go(func() { a, _ = s.run.call(s.token, query, vars, true) })
	wg.Go(func() { b, _ = s.run.call(s.token, query, vars, true) })
	wg.Wait()
	if a.code() != "" {
		return b
	}
	return a
}

// shop runs the shopper's actions until stop closes.
func (s *shopper) shop(stop <-chan struct{}) {
	vars := map[string]any{"k": s.key("wallet")}
	if s.rng.IntN(2) == 0 {
		s.twice(createWalletM, vars)
	} else {
		_, _ = s.run.call(s.token, createWalletM, vars, true)
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch n := s.rng.IntN(100); {
		case n < 30:
			s.buyWithWallet()
		case n < 60:
			s.buyWithCard()
		case n < 70:
			s.topUp()
		case n < 72:
			s.topUpRace()
		case n < 80:
			s.cancelRace()
		case n < 84:
			s.refund()
		case n < 87:
			s.splitPay()
		case n < 91:
			s.credit()
		default:
			s.walkAway()
		}
		time.Sleep(time.Duration(s.rng.IntN(200)) * time.Millisecond)
	}
}

// order creates an order: a purchase of one or two products, or a top-up.
func (s *shopper) order(topUp int64) (id string, amount int64, ok bool) {
	vars := map[string]any{"k": s.key("order")}
	if topUp > 0 {
		vars["kind"], vars["amount"] = "WALLET_TOPUP", topUp
	} else {
		ps := s.run.products
		first := s.rng.IntN(len(ps))
		items := []map[string]any{{"productId": ps[first], "quantity": 1 + s.rng.IntN(2)}}
		if second := s.rng.IntN(len(ps)); second != first && s.rng.IntN(3) == 0 {
			items = append(items, map[string]any{"productId": ps[second], "quantity": 1})
		}
		vars["items"] = items
	}
	resp, err := s.run.call(s.token, createOrderM, vars, true)
	if err != nil || resp.code() != "" {
		s.run.tally("createOrder " + orCode(resp, err))
		return "", 0, false
	}
	var out struct {
		CreateOrder struct {
			Order struct {
				ID     string
				Amount int64
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &out)
	return out.CreateOrder.Order.ID, out.CreateOrder.Order.Amount, true
}

func orCode(r gqlResponse, err error) string {
	if err != nil {
		return "NO_ANSWER"
	}
	if c := r.code(); c != "" {
		return c
	}
	return "ok"
}

func (s *shopper) buyWithWallet() {
	id, _, ok := s.order(0)
	if !ok {
		return
	}
	vars := map[string]any{"k": s.key("pay"), "o": id}
	var resp gqlResponse
	var err error
	switch s.rng.IntN(4) {
	case 0: // double click: the same key twice at once
		resp = s.twice(payWithWalletM, vars)
	case 1: // two tabs: different keys at once; one may pay
		other := map[string]any{"k": s.key("pay"), "o": id}
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.run.call(s.token, payWithWalletM, other, true) })
		resp, err = s.run.call(s.token, payWithWalletM, vars, true)
		wg.Wait()
	default:
		resp, err = s.run.call(s.token, payWithWalletM, vars, true)
	}
	s.run.tally("payWithWallet " + orCode(resp, err))
}

// authenticate does at the PG what the customer does in its widget.
func (s *shopper) authenticate(orderID string, amount int64, card string) (string, bool) {
	body, _ := json.Marshal(map[string]any{"orderId": orderID, "amount": amount, "card": card, "customerKey": s.name})
	resp, err := s.run.http.Post(s.run.c.sandboxURL+"/_sandbox/authenticate", "application/json", bytes.NewReader(body))
	if err != nil {
		s.run.tally("authenticate NO_ANSWER")
		return "", false
	}
	defer resp.Body.Close()
	var out struct{ PaymentKey string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		s.run.tally(fmt.Sprintf("authenticate %d", resp.StatusCode))
		return "", false
	}
	return out.PaymentKey, true
}

func (s *shopper) card() string {
	switch n := s.rng.IntN(20); {
	case n < 2:
		return sandbox.CardDeclined
	case n < 3:
		return sandbox.CardInsufficient
	case n < 5:
		return sandbox.CardSlow
	}
	return sandbox.CardSuccess
}

func (s *shopper) buyWithCard() {
	id, amount, ok := s.order(0)
	if !ok {
		return
	}
	s.payByCard(id, amount)
}

func (s *shopper) topUp() {
	id, amount, ok := s.order(int64(1+s.rng.IntN(20)) * 1000)
	if !ok {
		return
	}
	s.payByCard(id, amount)
}

// topUpRace confirms two card top-ups at once that each fit under the
// wallet's ceiling but not together: the PG approves both, and the one the
// wallet cannot take must be refunded at the PG.
func (s *shopper) topUpRace() {
	resp, err := s.run.call(s.token, walletLimitQ, nil, false)
	if err != nil || resp.code() != "" {
		return
	}
	var out struct {
		Wallet struct{ Balance, Limit int64 }
	}
	_ = json.Unmarshal(resp.Data, &out)
	room := out.Wallet.Limit - out.Wallet.Balance
	if room < 4000 {
		return
	}
	amount := (room/2/1000 + 1) * 1000 // each fits, both do not
	var wg sync.WaitGroup
	for range 2 {
		id, amt, ok := s.order(amount)
		if !ok {
			continue
		}
		pk, ok := s.authenticate(id, amt, sandbox.CardSuccess)
		if !ok {
			continue
		}
		vars := map[string]any{"k": s.key("confirm"), "o": id, "pk": pk, "a": amt}
		wg.Go(func() {
			resp, err := s.run.call(s.token, confirmPaymentM, vars, true)
			s.run.tally("confirmPayment top-up race " + orCode(resp, err))
		})
	}
	wg.Wait()
}

// payByCard authenticates and confirms: by the success redirect (refreshed
// or opened twice at times), by the mutation (double-clicked at times), or
// both at once; or, when the run asks for it, with pago killed while the
// PG has committed and its answer is still on the way.
func (s *shopper) payByCard(id string, amount int64) {
	if s.run.takeKillAfterCommit() {
		s.killAfterCommit(id, amount)
		return
	}
	card := s.card()
	pk, ok := s.authenticate(id, amount, card)
	if !ok {
		return
	}
	if card == sandbox.CardDeclined || card == sandbox.CardInsufficient {
		s.run.addForgeTarget(forgeTarget{paymentKey: pk, orderID: id, amount: amount})
	}
	vars := map[string]any{"k": s.key("confirm"), "o": id, "pk": pk, "a": amount}
	switch n := s.rng.IntN(10); {
	case n < 4:
		s.run.tally("redirect " + s.redirect(id, pk, amount))
		if s.rng.IntN(3) == 0 { // refresh the success page
			s.run.tally("redirect refresh " + s.redirect(id, pk, amount))
		}
	case n < 5: // the success page opened in two tabs at once
		var wg sync.WaitGroup
		wg.Go(func() { s.run.tally("redirect twin " + s.redirect(id, pk, amount)) })
		s.run.tally("redirect " + s.redirect(id, pk, amount))
		wg.Wait()
	case n < 7:
		resp, err := s.run.call(s.token, confirmPaymentM, vars, true)
		s.run.tally("confirmPayment " + orCode(resp, err))
	case n < 8:
		s.run.tally("confirmPayment double " + orCode(s.twice(confirmPaymentM, vars), nil))
	default: // the redirect and the SPA's mutation race on one payment
		var wg sync.WaitGroup
		wg.Go(func() { s.run.tally("redirect racing " + s.redirect(id, pk, amount)) })
		resp, err := s.run.call(s.token, confirmPaymentM, vars, true)
		s.run.tally("confirmPayment racing " + orCode(resp, err))
		wg.Wait()
	}
}

// redirect opens the success page as the PG's redirect does, on a live
// instance, again on another after a transport error; it returns the HTTP
// status or "NO_ANSWER".
func (s *shopper) redirect(orderID, paymentKey string, amount int64) string {
	resp, err := s.run.call(s.token, checkoutURLQ, map[string]any{"id": orderID}, false)
	if err != nil || resp.code() != "" {
		return "NO_CHECKOUT_URL"
	}
	var out struct{ Order struct{ CheckoutURL string } }
	_ = json.Unmarshal(resp.Data, &out)
	u, err := url.Parse(out.Order.CheckoutURL)
	if err != nil {
		return "BAD_CHECKOUT_URL"
	}
	q := url.Values{"paymentKey": {paymentKey}, "orderId": {orderID}, "amount": {strconv.FormatInt(amount, 10)}}
	for attempt := 0; attempt < 40; attempt++ {
		if attempt > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		live := s.run.c.live()
		if len(live) == 0 {
			continue
		}
		p := live[rand.IntN(len(live))]
		resp, err := s.run.http.Get(p.url + u.EscapedPath() + "/success?" + q.Encode())
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			continue // a customer reloads an error page
		}
		return strconv.Itoa(resp.StatusCode)
	}
	return "NO_ANSWER"
}

// refund buys by card or from the wallet, then asks for refunds: part or
// the rest, as the customer or an operator, sometimes twice at once (the
// same key, or two keys racing for the same rest). Refund answers are where
// the refund stands now, so they are not replayed: the checks compare the
// PG's cancels with pago's refunds instead.
func (s *shopper) refund() {
	id, amount, ok := s.order(0)
	if !ok {
		return
	}
	if s.rng.IntN(2) == 0 {
		s.payByCard(id, amount)
	} else {
		resp, err := s.run.call(s.token, payWithWalletM, map[string]any{"k": s.key("pay"), "o": id}, true)
		s.run.tally("payWithWallet " + orCode(resp, err))
	}
	token := s.token
	if s.rng.IntN(4) == 0 {
		token = s.run.admin
	}
	vars := map[string]any{"k": s.key("refund"), "o": id, "r": "chaos refund"}
	if s.rng.IntN(2) == 0 {
		vars["a"] = 1 + s.rng.Int64N(amount)
	}
	switch s.rng.IntN(4) {
	case 0: // a double click
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.run.call(token, cancelPaymentM, vars, false) })
		resp, err := s.run.call(token, cancelPaymentM, vars, false)
		wg.Wait()
		s.run.tally("cancelPayment double " + orCode(resp, err))
	case 1: // two refunds of the rest at once: one moves money
		other := map[string]any{"k": s.key("refund"), "o": id, "r": "chaos refund"}
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.run.call(token, cancelPaymentM, other, false) })
		resp, err := s.run.call(token, cancelPaymentM, map[string]any{"k": vars["k"], "o": id, "r": "chaos refund"}, false)
		wg.Wait()
		s.run.tally("cancelPayment racing " + orCode(resp, err))
	default:
		resp, err := s.run.call(token, cancelPaymentM, vars, false)
		s.run.tally("cancelPayment " + orCode(resp, err))
	}
}

// splitPay pays a purchase partly from the wallet (held) and the rest by
// card; the card may be declined, or the customer may walk away and leave
// the hold to the order's expiry.
func (s *shopper) splitPay() {
	id, amount, ok := s.order(0)
	if !ok || amount < 2 {
		return
	}
	resp, err := s.run.call(s.token, startSplitM, map[string]any{"k": s.key("split"), "o": id, "w": 1 + s.rng.Int64N(amount-1)}, true)
	s.run.tally("startSplitPayment " + orCode(resp, err))
	if err != nil || resp.code() != "" {
		return
	}
	var out struct{ StartSplitPayment struct{ CardAmount int64 } }
	_ = json.Unmarshal(resp.Data, &out)
	if s.rng.IntN(8) == 0 {
		return // walks away: the order's expiry releases the hold
	}
	card := s.card()
	if card == sandbox.CardSlow {
		card = sandbox.CardSuccess
	}
	pk, ok := s.authenticate(id, out.StartSplitPayment.CardAmount, card)
	if !ok {
		return
	}
	if s.rng.IntN(2) == 0 {
		s.run.tally("split redirect " + s.redirect(id, pk, out.StartSplitPayment.CardAmount))
		return
	}
	vars := map[string]any{"k": s.key("confirm"), "o": id, "pk": pk, "a": out.StartSplitPayment.CardAmount}
	resp, err = s.run.call(s.token, confirmPaymentM, vars, true)
	s.run.tally("split confirmPayment " + orCode(resp, err))
}

// killAfterCommit confirms a slow card's payment on one instance and kills
// that instance the moment the PG has recorded the confirm: the charge is
// made and pago has not written it. The customer then retries elsewhere.
func (s *shopper) killAfterCommit(id string, amount int64) {
	pk, ok := s.authenticate(id, amount, sandbox.CardSlow)
	if !ok {
		return
	}
	live := s.run.c.live()
	if len(live) == 0 {
		return
	}
	victim := live[s.rng.IntN(len(live))]
	vars := map[string]any{"k": s.key("confirm"), "o": id, "pk": pk, "a": amount}
	body, _ := json.Marshal(map[string]any{"query": confirmPaymentM, "variables": vars})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.run.post(victim.url+"/graphql", s.token, body)
	}()
	if s.run.waitForConfirm(id, 5*time.Second) {
		s.run.killAndRestart(victim, faultKillAfterCommit)
	}
	<-done
	resp, err := s.run.call(s.token, confirmPaymentM, vars, true)
	s.run.tally("confirmPayment after kill " + orCode(resp, err))
}

// cancelRace creates an order and cancels it, racing a card confirm half
// of the time.
func (s *shopper) cancelRace() {
	id, amount, ok := s.order(0)
	if !ok {
		return
	}
	cancel := map[string]any{"k": s.key("cancel"), "o": id}
	if s.rng.IntN(2) == 0 {
		resp, err := s.run.call(s.token, cancelOrderM, cancel, true)
		s.run.tally("cancelOrder " + orCode(resp, err))
		return
	}
	pk, ok := s.authenticate(id, amount, sandbox.CardSuccess)
	if !ok {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		resp, err := s.run.call(s.token, cancelOrderM, cancel, true)
		s.run.tally("cancelOrder racing " + orCode(resp, err))
	})
	resp, err := s.run.call(s.token, confirmPaymentM, map[string]any{"k": s.key("confirm"), "o": id, "pk": pk, "a": amount}, true)
	s.run.tally("confirmPayment vs cancel " + orCode(resp, err))
	wg.Wait()
}

// credit has an operator credit the shopper's wallet.
func (s *shopper) credit() {
	resp, err := s.run.call(s.run.admin, adjustWalletM,
		map[string]any{"k": s.key("adjust"), "u": s.run.userIDs[s.name], "a": int64(1+s.rng.IntN(10)) * 1000}, true)
	s.run.tally("adjustWallet " + orCode(resp, err))
}

// walkAway authenticates at the PG and never comes back: the order expires.
func (s *shopper) walkAway() {
	id, amount, ok := s.order(0)
	if !ok {
		return
	}
	if pk, ok := s.authenticate(id, amount, sandbox.CardSuccess); ok {
		s.run.addForgeTarget(forgeTarget{paymentKey: pk, orderID: id, amount: amount})
	}
	s.run.tally("walked away")
}
