/*
 * pago checkout pages. Everything comes from data-* attributes rendered by
 * the server (views/checkout.templ), so the pages need no inline script and
 * the CSP can stay nonce-only.
 *
 * #checkout (a PENDING order): render the PG's v2 widget and request the
 * payment on click; the PG redirects to successUrl or failUrl.
 *
 * [data-status-url] (an IN_DOUBT payment): poll the order's status every
 * second and switch the page to paid or failed when it settles; failed
 * shows the way forward the server rendered hidden: try again for an order
 * back to PENDING, another card for one that ended FAILED.
 *
 * The JSDoc types are checked by `tsc --checkJs` against the official
 * @tosspayments/tosspayments-sdk types (web/checkout_typecheck_test.go), so code
 * that runs on the sandbox's SDK runs unchanged on Toss's.
 */
// @ts-check
(function () {
  "use strict";

  /**
   * @param {HTMLElement} root
   * @param {unknown} err
   */
  function showError(root, err) {
    /** @type {HTMLElement | null} */
    var box = root.querySelector('[data-testid="widget-error"]');
    if (!box) return;
    // textContent: the PG's message is text, never markup.
    var msg = err && typeof err === "object" && "message" in err ? String(err.message) : "";
    box.textContent = msg || String(err);
    box.hidden = false;
  }

  /**
   * @param {DOMStringMap} d
   * @param {string} name
   * @returns {string} the data-* attribute the server always renders
   */
  function attr(d, name) {
    var v = d[name];
    if (v === undefined) throw new Error("checkout page lacks data-" + name);
    return v;
  }

  /** @param {HTMLElement} root */
  function checkout(root) {
    var d = root.dataset;
    /** @type {HTMLButtonElement | null} */
    var button = root.querySelector('[data-testid="pay-button"]');
    if (!button) return;
    var pay = button;
    if (typeof window.TossPayments !== "function") {
      showError(root, new Error("결제 모듈을 불러오지 못했습니다. · The payment module did not load; reload the page."));
      return;
    }
    /** @type {import("@tosspayments/tosspayments-sdk").TossPaymentsWidgets} */
    var widgets;
    try {
      widgets = window.TossPayments(attr(d, "clientKey")).widgets({customerKey: attr(d, "customerKey")});
    } catch (e) {
      showError(root, e);
      return;
    }
    // setAmount must precede rendering (the SDK throws NotSetupAmountError).
    widgets.setAmount({currency: "KRW", value: Number(d.amount)})
      .then(function () {
        return Promise.all([
          widgets.renderPaymentMethods({selector: "#payment-method", variantKey: "DEFAULT"}),
          widgets.renderAgreement({selector: "#agreement", variantKey: "AGREEMENT"})
        ]);
      })
      .then(function () {
        pay.disabled = false;
        root.dataset.ready = "yes";
      }, function (e) { showError(root, e); });

    pay.addEventListener("click", function () {
      pay.disabled = true;
      widgets.requestPayment({
        orderId: attr(d, "orderId"),
        orderName: attr(d, "orderName"),
        successUrl: attr(d, "successUrl"),
        failUrl: attr(d, "failUrl")
      }).catch(function (e) {
        // With redirect URLs the promise only settles on an error raised
        // before leaving the page (validation, a closed window).
        showError(root, e);
        pay.disabled = false;
      });
    });
  }

  // Anything but IN_DOUBT is final for this page: PAID (or refunded since)
  // is paid; FAILED, EXPIRED, CANCELED, or PENDING again after a confirm
  // that never reached the PG, means nothing was charged.
  /** @type {Record<string, string>} */
  var settled = {PAID: "paid", PARTIALLY_REFUNDED: "paid", REFUNDED: "paid"};
  // The way forward a failed page shows, by the order's status.
  /** @type {Record<string, string>} */
  var nextStep = {PENDING: "retry", FAILED: "again"};
  var pollEvery = 1000;
  // The PG's confirm window is 10 minutes; the probe settles within it.
  var pollFor = 11 * 60 * 1000;

  /**
   * @param {HTMLElement} el
   * @param {string} state "paid" or "failed"
   * @param {string} status the order's status
   */
  function settle(el, state, status) {
    /** @type {HTMLElement | null} */
    var title = el.querySelector('[data-role="title"]');
    /** @type {HTMLElement | null} */
    var detail = el.querySelector('[data-role="detail"]');
    if (!title || !detail) return;
    var d = el.dataset;
    title.textContent = (state === "paid" ? d.titlePaid : d.titleFailed) || "";
    title.className = state === "paid" ? "status-ok" : "status-bad";
    detail.textContent = (state === "paid" ? d.detailPaid : d.detailFailed) || "";
    el.setAttribute("data-testid", "status-" + state);
    document.title = title.textContent + " · pago";
    var role = nextStep[status];
    /** @type {HTMLElement | null} */
    var next = role ? el.querySelector('[data-role="' + role + '"]') : null;
    if (next) next.hidden = false;
  }

  /** @param {HTMLElement} el */
  function poll(el) {
    var started = Date.now();
    var url = attr(el.dataset, "statusUrl");
    function tick() {
      fetch(url, {headers: {Accept: "application/json"}, cache: "no-store", credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          var status = body && body.status;
          if (status && status !== "IN_DOUBT") {
            settle(el, settled[status] || "failed", status);
            return;
          }
          if (Date.now() - started < pollFor) setTimeout(tick, pollEvery);
        }, function () {
          // A network blip: keep trying, the server is the source of truth.
          if (Date.now() - started < pollFor) setTimeout(tick, pollEvery);
        });
    }
    setTimeout(tick, pollEvery);
  }

  var root = document.getElementById("checkout");
  if (root) checkout(root);
  /** @type {HTMLElement | null} */
  var processing = document.querySelector("[data-status-url]");
  if (processing) poll(processing);
})();
