/*
 * pago checkout pages. Everything comes from data-* attributes rendered by
 * the server (views/checkout.templ), so the pages need no inline script and
 * the CSP can stay nonce-only.
 *
 * #checkout (a PENDING order): render the PG's v2 widget and request the
 * payment on click; the PG redirects to successUrl or failUrl.
 *
 * [data-status-url] (an IN_DOUBT payment): poll the order's status every
 * second and switch the page to paid or failed when it settles.
 */
(function () {
  "use strict";

  function showError(root, err) {
    var box = root.querySelector('[data-testid="widget-error"]');
    if (!box) return;
    // textContent: the PG's message is text, never markup.
    box.textContent = (err && err.message) || String(err);
    box.hidden = false;
  }

  function checkout(root) {
    var d = root.dataset;
    var button = root.querySelector('[data-testid="pay-button"]');
    if (typeof window.TossPayments !== "function") {
      showError(root, new Error("결제 모듈을 불러오지 못했습니다. · The payment module did not load; reload the page."));
      return;
    }
    var widgets;
    try {
      widgets = window.TossPayments(d.clientKey).widgets({customerKey: d.customerKey});
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
        button.disabled = false;
        root.dataset.ready = "yes";
      }, function (e) { showError(root, e); });

    button.addEventListener("click", function () {
      button.disabled = true;
      widgets.requestPayment({
        orderId: d.orderId,
        orderName: d.orderName,
        successUrl: d.successUrl,
        failUrl: d.failUrl
      }).catch(function (e) {
        // With redirect URLs the promise only settles on an error raised
        // before leaving the page (validation, a closed window).
        showError(root, e);
        button.disabled = false;
      });
    });
  }

  // Anything but IN_DOUBT is final for this page: PAID (or refunded since)
  // is paid; FAILED, EXPIRED, CANCELED, or PENDING again after a confirm
  // that never reached the PG, means nothing was charged.
  var settled = {PAID: "paid", PARTIALLY_REFUNDED: "paid", REFUNDED: "paid"};
  var pollEvery = 1000;
  // The PG's confirm window is 10 minutes; the probe settles within it.
  var pollFor = 11 * 60 * 1000;

  function settle(el, state) {
    var title = el.querySelector('[data-role="title"]');
    var detail = el.querySelector('[data-role="detail"]');
    var d = el.dataset;
    title.textContent = state === "paid" ? d.titlePaid : d.titleFailed;
    title.className = state === "paid" ? "status-ok" : "status-bad";
    detail.textContent = state === "paid" ? d.detailPaid : d.detailFailed;
    el.setAttribute("data-testid", "status-" + state);
    document.title = title.textContent + " · pago";
  }

  function poll(el) {
    var started = Date.now();
    function tick() {
      fetch(el.dataset.statusUrl, {headers: {Accept: "application/json"}, cache: "no-store", credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          var status = body && body.status;
          if (status && status !== "IN_DOUBT") {
            settle(el, settled[status] || "failed");
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
  var processing = document.querySelector("[data-status-url]");
  if (processing) poll(processing);
})();
