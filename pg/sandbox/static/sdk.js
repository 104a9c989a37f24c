/*
 * TossPayments v2 "standard" SDK, pago sandbox edition.
 *
 * Implements the surface merchants use (TOSS.md §9) against the pago PG
 * sandbox, with no network access beyond the sandbox that served this file:
 *
 *   var tp = TossPayments(clientKey);
 *   var widgets = tp.widgets({customerKey: TossPayments.ANONYMOUS});
 *   await widgets.setAmount({currency: "KRW", value: 50000});
 *   await widgets.renderPaymentMethods({selector: "#payment-method"});
 *   await widgets.renderAgreement({selector: "#agreement"});
 *   await widgets.requestPayment({orderId, orderName, successUrl, failUrl});
 *
 *   tp.payment({customerKey}).requestPayment({method: "CARD",
 *     amount: {currency: "KRW", value: 50000}, orderId, orderName, successUrl, failUrl});
 *
 * requestPayment navigates the window to the sandbox, which opens the
 * payment (READY) and shows the hosted pay page with test cards. It is a
 * plain navigation rather than fetch so that the merchant page's CSP
 * (connect-src, form-action) cannot get in the way.
 */
(function (global) {
  "use strict";

  var ANONYMOUS = "@@ANONYMOUS";

  // The sandbox root: where this script came from, minus /v2/standard.
  // document.currentScript is only set while the script first runs.
  var BASE = (function () {
    var script = document.currentScript;
    if (script && script.src) {
      var u = new URL(script.src, global.location.href);
      return u.origin + u.pathname.replace(/\/v2\/standard(\.js)?$/, "");
    }
    return global.location.origin + "__SANDBOX_BASE__";
  })();

  function sdkError(code, message, name) {
    var e = new Error(message);
    e.name = name || "TossPaymentsError";
    e.code = code;
    return e;
  }

  function validOrderId(v) {
    return typeof v === "string" && /^[A-Za-z0-9_=-]{6,64}$/.test(v);
  }

  function checkCustomerKey(v) {
    if (v === ANONYMOUS) return;
    if (typeof v !== "string" || !/^[A-Za-z0-9_=.@-]{2,50}$/.test(v)) {
      throw sdkError("INVALID_CUSTOMER_KEY",
        "customerKey는 영문 대소문자, 숫자, 특수문자 -, _, =, ., @ 로 이루어진 2자 이상 50자 이하의 문자열이어야 합니다.");
    }
  }

  function checkAmount(a) {
    if (!a || typeof a.value !== "number" || !isFinite(a.value) || a.value < 0 || Math.floor(a.value) !== a.value) {
      return sdkError("INVALID_AMOUNT_VALUE", "amount.value는 0 이상의 정수여야 합니다.");
    }
    if (a.currency && a.currency !== "KRW") {
      return sdkError("NOT_SUPPORTED_CURRENCY", "샌드박스는 KRW만 지원합니다.");
    }
    return null;
  }

  function findElement(selector) {
    if (typeof selector !== "string") return null;
    return document.querySelector(selector);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function formatWon(v) {
    return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "원";
  }

  // request validates the common requestPayment parameters and navigates
  // to the sandbox. The returned promise never settles: the page unloads.
  function request(clientKey, customerKey, flow, p, amount) {
    if (!p || typeof p !== "object") {
      return Promise.reject(sdkError("INVALID_PARAMETERS", "결제 요청 파라미터가 없습니다."));
    }
    if (!validOrderId(p.orderId)) {
      return Promise.reject(sdkError("INVALID_ORDER_ID",
        "orderId는 영문 대소문자, 숫자, 특수문자 -, _, = 로 이루어진 6자 이상 64자 이하의 문자열이어야 합니다."));
    }
    if (typeof p.orderName !== "string" || p.orderName === "" || p.orderName.length > 100) {
      return Promise.reject(sdkError("INVALID_ORDER_NAME", "orderName은 1자 이상 100자 이하의 문자열이어야 합니다."));
    }
    if (!p.successUrl || !p.failUrl) {
      return Promise.reject(sdkError("INVALID_URL",
        "샌드박스는 successUrl과 failUrl을 사용하는 리다이렉트 방식만 지원합니다."));
    }
    if (p.metadata && Object.keys(p.metadata).length > 5) {
      return Promise.reject(sdkError("INVALID_METADATA", "metadata는 최대 5개의 키를 가질 수 있습니다."));
    }
    var q = new URLSearchParams();
    var fields = {
      clientKey: clientKey, customerKey: customerKey, flow: flow, method: "CARD",
      amount: amount.value, currency: amount.currency || "KRW",
      orderId: p.orderId, orderName: p.orderName,
      successUrl: new URL(p.successUrl, global.location.href).href,
      failUrl: new URL(p.failUrl, global.location.href).href,
      customerEmail: p.customerEmail, customerName: p.customerName,
      customerMobilePhone: p.customerMobilePhone,
      metadata: p.metadata ? JSON.stringify(p.metadata) : null
    };
    Object.keys(fields).forEach(function (k) {
      var v = fields[k];
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    });
    global.location.assign(BASE + "/sdk/request?" + q.toString());
    return new Promise(function () {});
  }

  function widgets(clientKey, opts) {
    if (clientKey.indexOf("_gck_") < 0) {
      throw sdkError("INVALID_CLIENT_KEY",
        "결제위젯 연동 키의 클라이언트 키(*_gck_*)로 widgets()를 사용해주세요.");
    }
    var customerKey = opts && opts.customerKey;
    checkCustomerKey(customerKey);
    var amount = null;
    var amountLabels = [];

    function setAmount(a) {
      var err = checkAmount(a);
      if (err) return Promise.reject(err);
      amount = { currency: a.currency || "KRW", value: a.value };
      amountLabels.forEach(function (n) { n.textContent = formatWon(amount.value); });
      return Promise.resolve();
    }

    return {
      setAmount: setAmount,
      updateAmount: setAmount,

      renderPaymentMethods: function (o) {
        if (amount === null) {
          return Promise.reject(sdkError("NOT_SETUP_AMOUNT",
            "renderPaymentMethods() 전에 setAmount()를 호출해주세요.", "NotSetupAmountError"));
        }
        var target = findElement(o && o.selector);
        if (!target) {
          return Promise.reject(sdkError("INVALID_SELECTOR", "selector에 해당하는 엘리먼트가 없습니다."));
        }
        var box = el("div", { "class": "toss-sandbox-methods", "data-testid": "toss-payment-methods" });
        var label = el("label", {});
        var radio = el("input", { type: "radio", name: "toss-sandbox-method", value: "CARD", "data-testid": "toss-method-card" });
        radio.checked = true;
        label.appendChild(radio);
        label.appendChild(document.createTextNode(" 카드 (테스트) "));
        var amt = el("strong", { "data-testid": "toss-method-amount" }, formatWon(amount.value));
        amountLabels.push(amt);
        box.appendChild(label);
        box.appendChild(amt);
        box.appendChild(el("p", {}, "SANDBOX: 결제하기를 누르면 테스트 카드를 고를 수 있습니다."));
        target.replaceChildren(box);
        return Promise.resolve({
          on: function () {},
          getSelectedPaymentMethod: function () { return Promise.resolve({ type: "NORMAL", method: "CARD" }); },
          destroy: function () { target.replaceChildren(); return Promise.resolve(); }
        });
      },

      renderAgreement: function (o) {
        var target = findElement(o && o.selector);
        if (!target) {
          return Promise.reject(sdkError("INVALID_SELECTOR", "selector에 해당하는 엘리먼트가 없습니다."));
        }
        var label = el("label", {});
        var box = el("input", { type: "checkbox", "data-testid": "toss-agreement" });
        box.checked = true;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" [필수] 결제 서비스 이용 약관 동의 (테스트)"));
        target.replaceChildren(label);
        return Promise.resolve({
          on: function () {},
          getAgreementStatus: function () { return Promise.resolve({ agreedRequiredTerms: box.checked }); },
          destroy: function () { target.replaceChildren(); return Promise.resolve(); }
        });
      },

      requestPayment: function (p) {
        if (amount === null) {
          return Promise.reject(sdkError("NOT_SETUP_AMOUNT",
            "requestPayment() 전에 setAmount()를 호출해주세요.", "NotSetupAmountError"));
        }
        if (amount.value <= 0) {
          return Promise.reject(sdkError("INVALID_AMOUNT_VALUE", "결제 금액은 0보다 커야 합니다."));
        }
        return request(clientKey, customerKey, "widget", p, amount);
      }
    };
  }

  function payment(clientKey, opts) {
    var customerKey = opts && opts.customerKey;
    checkCustomerKey(customerKey);
    return {
      requestPayment: function (p) {
        if (!p || typeof p !== "object") {
          return Promise.reject(sdkError("INVALID_PARAMETERS", "결제 요청 파라미터가 없습니다."));
        }
        if (p.method !== "CARD") {
          return Promise.reject(sdkError("NOT_SUPPORTED_METHOD", "샌드박스는 method: \"CARD\"만 지원합니다."));
        }
        var err = checkAmount(p.amount);
        if (err) return Promise.reject(err);
        if (p.amount.value <= 0) {
          return Promise.reject(sdkError("INVALID_AMOUNT_VALUE", "결제 금액은 0보다 커야 합니다."));
        }
        return request(clientKey, customerKey, "payment", p, p.amount);
      },
      requestBillingAuth: function () {
        return Promise.reject(sdkError("NOT_SUPPORTED", "샌드박스는 자동결제를 지원하지 않습니다."));
      }
    };
  }

  function TossPayments(clientKey) {
    if (typeof clientKey !== "string" || clientKey === "") {
      throw sdkError("INVALID_CLIENT_KEY", "클라이언트 키가 필요합니다.");
    }
    return {
      widgets: function (opts) { return widgets(clientKey, opts); },
      payment: function (opts) { return payment(clientKey, opts); }
    };
  }
  TossPayments.ANONYMOUS = ANONYMOUS;

  global.TossPayments = TossPayments;
  global.loadTossPayments = function (clientKey) {
    return new Promise(function (resolve) { resolve(TossPayments(clientKey)); });
  };
})(window);
