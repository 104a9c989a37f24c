// Package sandbox is a stateful, wire-compatible emulator of the Toss Payments
// v1 REST API and v2 browser SDK, with deterministic fault injection.
//
// It owns everything a PG would: payments and their status windows, the
// hosted pay page with test cards, the JavaScript SDK the checkout page loads,
// idempotency keys, settlements and webhooks. It leaves orders, persistence
// and money rules to pago: state lives in memory and disappears with the
// process. It imports no other pago package.
//
// # Mounting
//
// A Sandbox is an http.Handler whose routes are relative to where it is
// mounted. Set Config.BasePath to the public prefix (pago: "/sandbox") and
// mount it with or without http.StripPrefix; or serve it on its own port
// with BasePath "". The sandbox is for tests and development only: the
// /_sandbox/ admin routes take no credentials.
//
// # Routes
//
// Toss REST API (Basic auth with the secret key; docs/toss.md §2–§8):
//
//	POST /v1/payments/confirm             {paymentKey, orderId, amount}
//	GET  /v1/payments/{paymentKey}
//	GET  /v1/payments/orders/{orderId}
//	POST /v1/payments/{paymentKey}/cancel {cancelReason, cancelAmount?, refundableAmount?}
//	GET  /v1/settlements?startDate&endDate&dateType&page&size
//
// Every REST request goes through the same pipeline: Basic auth, then the
// TossPayments-Test-Code header (which answers with that error before any
// other validation), then a ConnReset fault (the request never arrived),
// then the Idempotency-Key (POST only; at most 300 characters, else 400
// INVALID_IDEMPOTENCY_KEY; scope = key + secret key + path + method; the
// first answer, errors included — an HTTPError or Decline fault's too — is
// replayed for 15 days of sandbox clock; 409 IDEMPOTENT_REQUEST_PROCESSING
// while the first is in flight), then fault latency, the operation (or the
// fault's error answer instead of it), and the answer. Throttling is Toss's
// own 403 FORBIDDEN_CONSECUTIVE_REQUEST, never a 429.
//
// Error choices where Toss is undocumented: a confirm whose amount differs
// from the authenticated one is 400 INVALID_REQUEST and leaves the payment
// IN_PROGRESS; a confirm of a payment that is not authenticated yet, whose
// window lapsed, or whose orderId differs is 404 NOT_FOUND_PAYMENT_SESSION;
// a confirm of a DONE, CANCELED or ABORTED payment is 400
// ALREADY_PROCESSED_PAYMENT; a second approved payment for an orderId is 400
// DUPLICATED_ORDER_ID; cancelling a payment that was never approved is 403
// NOT_CANCELABLE_PAYMENT.
//
// Browser side (no external resources):
//
//	GET  /v2/standard, /v2/standard.js  the SDK: the official 2.8.1 surface, TossPayments(clientKey).widgets / .payment / .brandpay (rejects)
//	GET  /sdk/request                   where requestPayment navigates; creates the READY payment, 303 to the pay page
//	GET  /pay/{paymentKey}              hosted pay page: test cards and a cancel button
//	POST /pay/{paymentKey}/authenticate card=<name>; 303 to successUrl?paymentType=NORMAL&amount&orderId&paymentKey
//	POST /pay/{paymentKey}/cancel       303 to failUrl?code=PAY_PROCESS_CANCELED&message&orderId
//	GET  /receipt/{paymentKey}          what Payment.receipt.url points at
//	GET  /static/pay.css
//
// Admin API (JSON, no auth):
//
//	GET|POST|DELETE /_sandbox/faults    list, add (a Fault as JSON; latency "250ms" or ms), clear
//	GET  /_sandbox/record[?orderId=]    executed confirms and cancels (see Record)
//	GET|POST /_sandbox/clock            read, or {advance:"11m"} to move the clock forward
//	POST /_sandbox/authenticate         {orderId, orderName, amount, card, customerKey} → {paymentKey, orderId, amount}
//	POST /_sandbox/config               {webhookUrl?, slowCardDelay?}
//	GET  /_sandbox/webhooks             webhook delivery attempts
//	POST /_sandbox/webhooks/resend      {paymentKey}
//	POST /_sandbox/webhooks/send        {kind, orderId}: DEPOSIT_CALLBACK (flat, no eventType), CANCEL_STATUS_CHANGED, ...
//	POST /_sandbox/reset                forget everything
//
// # Test cards
//
// The pay page has one button per card, data-testid "card-<name>", plus
// data-testid "pay-cancel":
//
//	success       confirm → 200 DONE
//	declined      confirm → 403 REJECT_CARD_PAYMENT, payment ABORTED
//	insufficient  confirm → 403 REJECT_CARD_PAYMENT (insufficient-funds message), payment ABORTED
//	slow          confirm commits DONE at once but answers after SlowCardDelay (default 30 s)
//	auth-fail     no authentication: 303 to failUrl?code=REJECT_CARD_COMPANY, payment stays READY
//
// # Faults
//
// Faults().Inject(Fault{...}) or POST /_sandbox/faults queues rules; the
// first matching rule applies and Times counts down (0 = until cleared).
// Kinds: Latency, HTTPError, Decline, ConnReset, CommitThenDrop,
// WebhookDuplicate, WebhookDelay; see FaultKind. Note that net/http's
// Transport silently retries a request carrying an Idempotency-Key once when
// a reused connection is closed before any response: with Times: 1, a Go
// client may never see a ConnReset or CommitThenDrop, only the retry's
// answer (which, for CommitThenDrop, is the replay of the committed one).
//
// # Webhooks
//
// DONE, ABORTED, EXPIRED, CANCELED and PARTIAL_CANCELED post
// {eventType:"PAYMENT_STATUS_CHANGED", createdAt, data: Payment} to the
// webhook URL on a goroutine, with Toss's transmission headers; anything but
// 200 is retried after each of Config.WebhookRetryDelays. Close stops them.
// By default deliveries share at most 32 kept-alive connections to the
// receiver, so a burst of payments is not a burst of new connections.
// Status windows are applied lazily, so EXPIRED is noticed (and announced)
// the next time anything reads the payment.
package sandbox
