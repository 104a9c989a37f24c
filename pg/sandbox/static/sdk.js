/*
 * TossPayments v2 "standard" SDK, pago sandbox edition.
 *
 * The same surface as the official @tosspayments/tosspayments-sdk 2.8.1
 * types (TOSS.md §9) — no method the real SDK lacks, none missing — and the
 * same refusals where the sandbox can know them (a missing currency, a
 * relative or non-http(s) URL, an unknown variantKey, rendering a widget
 * twice, the wrong kind of client key), against the pago PG sandbox, with
 * no network access beyond the sandbox that served this file:
 *
 *   var tp = TossPayments(clientKey);            // test_gck_… for widgets()
 *   var widgets = tp.widgets({customerKey: TossPayments.ANONYMOUS});
 *   await widgets.setAmount({currency: "KRW", value: 50000});
 *   await widgets.renderPaymentMethods({selector: "#payment-method", variantKey: "DEFAULT"});
 *   await widgets.renderAgreement({selector: "#agreement", variantKey: "AGREEMENT"});
 *   await widgets.requestPayment({orderId, orderName, successUrl, failUrl});
 *
 *   TossPayments("test_ck_…").payment({customerKey}).requestPayment({method: "CARD",
 *     amount: {currency: "KRW", value: 50000}, orderId, orderName, successUrl, failUrl});
 *
 * requestPayment navigates the window to the sandbox, which opens the
 * payment (READY) and shows the hosted pay page with test cards. It is a
 * plain navigation rather than fetch so that the merchant page's CSP
 * (connect-src, form-action) cannot get in the way. The sandbox takes
 * redirect URLs only (no Promise result), cards only, and has no brandpay
 * or billing: those methods exist and reject.
 *
 * The JSDoc types are checked against the official SDK's types by
 * web/checkout_typecheck_test.go.
 */
// @ts-check
(function (global) {
  "use strict";

  var ANONYMOUS = "@@ANONYMOUS";

  // The variant keys the sandbox merchant has configured.
  var VARIANTS = {DEFAULT: true, AGREEMENT: true};

  // The sandbox root: where this script came from, minus /v2/standard.
  // document.currentScript is only set while the script first runs.
  var BASE = (function () {
    var script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
    if (script && script.src) {
      var u = new URL(script.src, global.location.href);
      return u.origin + u.pathname.replace(/\/v2\/standard(\.js)?$/, "");
    }
    return global.location.origin + "__SANDBOX_BASE__";
  })();

  /**
   * @param {string} name the SDK's error class, e.g. "NotSetupAmountError"
   * @param {string} code
   * @param {string} message
   * @returns {Error & {code: string}}
   */
  function sdkError(name, code, message) {
    var e = /** @type {Error & {code: string}} */ (new Error(message));
    e.name = name;
    e.code = code;
    return e;
  }

  /** @param {unknown} v */
  function validOrderId(v) {
    return typeof v === "string" && /^[A-Za-z0-9_=-]{6,64}$/.test(v);
  }

  /** @param {unknown} v */
  function checkCustomerKey(v) {
    if (v === ANONYMOUS) return;
    if (typeof v !== "string" || !/^[A-Za-z0-9_=.@-]{2,50}$/.test(v)) {
      throw sdkError("InvalidCustomerKeyError", "INVALID_CUSTOMER_KEY",
        "customerKey는 영문 대소문자, 숫자, 특수문자 -, _, =, ., @ 로 이루어진 2자 이상 50자 이하의 문자열이어야 합니다.");
    }
  }

  /**
   * checkAmount validates an Amount: currency is required, as the types say.
   * @param {any} a
   * @returns {Error | null}
   */
  function checkAmount(a) {
    if (!a || typeof a !== "object" || typeof a.value !== "number" || !isFinite(a.value) || Math.floor(a.value) !== a.value) {
      return sdkError("InvalidAmountValueError", "INVALID_AMOUNT_VALUE", "amount.value는 정수여야 합니다.");
    }
    if (a.value < 0) {
      return sdkError("BelowZeroAmountError", "BELOW_ZERO_AMOUNT", "결제 금액은 0원 이상이어야 합니다.");
    }
    if (typeof a.currency !== "string" || a.currency === "") {
      return sdkError("InvalidAmountCurrencyError", "INVALID_AMOUNT_CURRENCY", "amount.currency가 필요합니다.");
    }
    if (a.currency !== "KRW") {
      return sdkError("InvalidAmountCurrencyError", "INVALID_AMOUNT_CURRENCY", "샌드박스는 KRW만 지원합니다.");
    }
    return null;
  }

  /**
   * absoluteURL reports whether v is an absolute http(s) URL: the real SDK
   * refuses relative redirect URLs.
   * @param {unknown} v
   */
  function absoluteURL(v) {
    if (typeof v !== "string") return false;
    try {
      var u = new URL(v);
      return u.protocol === "https:" || u.protocol === "http:";
    } catch (e) {
      return false;
    }
  }

  /**
   * @param {unknown} variantKey
   * @returns {Error | null}
   */
  function checkVariant(variantKey) {
    if (variantKey === undefined || variantKey === null) return null;
    if (typeof variantKey !== "string" || !Object.prototype.hasOwnProperty.call(VARIANTS, variantKey)) {
      return sdkError("InvalidVariantKeyError", "INVALID_VARIANT_KEY",
        "variantKey가 유효하지 않습니다. 샌드박스의 variantKey는 DEFAULT, AGREEMENT입니다.");
    }
    return null;
  }

  /**
   * @param {unknown} selector
   * @returns {HTMLElement | null}
   */
  function findElement(selector) {
    if (typeof selector !== "string") return null;
    return document.querySelector(selector);
  }

  /**
   * @param {string} tag
   * @param {Record<string, string>} attrs
   * @param {string} [text]
   */
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  /** @param {number} v */
  function formatWon(v) {
    return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "원";
  }

  /** @param {string} what */
  function unsupported(what) {
    return Promise.reject(sdkError("UnsupportedTestPhasePaymentMethodError", "NOT_SUPPORTED",
      "샌드박스는 " + what + "을(를) 지원하지 않습니다."));
  }

  /**
   * request validates the common requestPayment parameters and navigates
   * to the sandbox. The returned promise never settles: the page unloads.
   * @param {string} clientKey
   * @param {string} customerKey
   * @param {string} flow "widget" or "payment"
   * @param {any} p the payment request
   * @param {{currency: string, value: number}} amount
   * @returns {Promise<any>}
   */
  function request(clientKey, customerKey, flow, p, amount) {
    if (!p || typeof p !== "object") {
      return Promise.reject(sdkError("InvalidParametersError", "INVALID_PARAMETERS", "결제 요청 파라미터가 없습니다."));
    }
    if (!validOrderId(p.orderId)) {
      return Promise.reject(sdkError("InvalidParametersError", "INVALID_ORDER_ID",
        "orderId는 영문 대소문자, 숫자, 특수문자 -, _, = 로 이루어진 6자 이상 64자 이하의 문자열이어야 합니다."));
    }
    if (typeof p.orderName !== "string" || p.orderName === "" || p.orderName.length > 100) {
      return Promise.reject(sdkError("InvalidParametersError", "INVALID_ORDER_NAME", "orderName은 1자 이상 100자 이하의 문자열이어야 합니다."));
    }
    if (p.successUrl == null || p.failUrl == null) {
      return Promise.reject(sdkError("NotSupportedPromiseError", "NOT_SUPPORTED_PROMISE",
        "샌드박스는 successUrl과 failUrl을 사용하는 리다이렉트 방식만 지원합니다."));
    }
    if (!absoluteURL(p.successUrl)) {
      return Promise.reject(sdkError("IncorrectSuccessUrlFormatError", "INCORRECT_SUCCESS_URL_FORMAT",
        "successUrl은 http(s)로 시작하는 절대 URL이어야 합니다."));
    }
    if (!absoluteURL(p.failUrl)) {
      return Promise.reject(sdkError("IncorrectFailUrlFormatError", "INCORRECT_FAIL_URL_FORMAT",
        "failUrl은 http(s)로 시작하는 절대 URL이어야 합니다."));
    }
    if (p.metadata && Object.keys(p.metadata).length > 5) {
      return Promise.reject(sdkError("InvalidMetadataError", "INVALID_METADATA", "metadata는 최대 5개의 키를 가질 수 있습니다."));
    }
    var q = new URLSearchParams();
    /** @type {Record<string, unknown>} */
    var fields = {
      clientKey: clientKey, customerKey: customerKey, flow: flow, method: "CARD",
      amount: amount.value, currency: amount.currency,
      orderId: p.orderId, orderName: p.orderName,
      successUrl: p.successUrl, failUrl: p.failUrl,
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

  /**
   * @param {string} clientKey
   * @param {Parameters<import("@tosspayments/tosspayments-sdk").TossPaymentsSDK["widgets"]>[0]} opts
   * @returns {import("@tosspayments/tosspayments-sdk").TossPaymentsWidgets}
   */
  function widgets(clientKey, opts) {
    if (clientKey.indexOf("_gck_") < 0) {
      throw sdkError("InvalidClientKeyError", "INVALID_CLIENT_KEY",
        "결제위젯 연동 키의 클라이언트 키(*_gck_*)로 widgets()를 사용해주세요.");
    }
    var customerKey = opts && opts.customerKey;
    checkCustomerKey(customerKey);
    /** @type {{currency: string, value: number} | null} */
    var amount = null;
    /** @type {HTMLElement[]} */
    var amountLabels = [];
    var methodsRendered = false;
    var agreementRendered = false;
    /** @type {HTMLInputElement | null} */
    var agreed = null;

    /** @param {any} a */
    function setAmount(a) {
      var err = checkAmount(a);
      if (err) return Promise.reject(err);
      var set = {currency: String(a.currency), value: Number(a.value)};
      amount = set;
      amountLabels.forEach(function (n) { n.textContent = formatWon(set.value); });
      return Promise.resolve();
    }

    /**
     * @param {any} p
     * @param {{currency: string, value: number}} amt
     */
    function pay(p, amt) {
      if (amt.value <= 0) {
        return Promise.reject(sdkError("InvalidAmountValueError", "INVALID_AMOUNT_VALUE", "결제 금액은 0보다 커야 합니다."));
      }
      if (agreed && !agreed.checked) {
        return Promise.reject(sdkError("NeedAgreementWithRequiredTermsError", "NEED_AGREEMENT_WITH_REQUIRED_TERMS",
          "필수 약관에 동의해주세요."));
      }
      return request(clientKey, String(customerKey), "widget", p, amt);
    }

    /** @type {import("@tosspayments/tosspayments-sdk").TossPaymentsWidgets} */
    var api = {
      setAmount: setAmount,

      renderPaymentMethods: function (o) {
        if (amount === null) {
          return Promise.reject(sdkError("NotSetupAmountError", "NOT_SETUP_AMOUNT",
            "renderPaymentMethods() 전에 setAmount()를 호출해주세요."));
        }
        var verr = checkVariant(o && o.variantKey);
        if (verr) return Promise.reject(verr);
        if (methodsRendered) {
          return Promise.reject(sdkError("PaymentMethodsWidgetAlreadyRenderedError", "ALREADY_RENDERED",
            "결제수단 위젯이 이미 렌더링되었습니다. destroy() 후에 다시 렌더링하세요."));
        }
        var target = findElement(o && o.selector);
        if (!target) {
          return Promise.reject(sdkError("InvalidSelectorError", "INVALID_SELECTOR", "selector에 해당하는 엘리먼트가 없습니다."));
        }
        var where = target;
        methodsRendered = true;
        var box = el("div", {"class": "toss-sandbox-methods", "data-testid": "toss-payment-methods"});
        var label = el("label", {});
        var radio = /** @type {HTMLInputElement} */ (el("input", {type: "radio", name: "toss-sandbox-method", value: "CARD", "data-testid": "toss-method-card"}));
        radio.checked = true;
        label.appendChild(radio);
        label.appendChild(document.createTextNode(" 카드 (테스트) "));
        var amt = el("strong", {"data-testid": "toss-method-amount"}, formatWon(amount.value));
        amountLabels.push(amt);
        box.appendChild(label);
        box.appendChild(amt);
        box.appendChild(el("p", {}, "SANDBOX: 결제하기를 누르면 테스트 카드를 고를 수 있습니다."));
        where.replaceChildren(box);
        return Promise.resolve({
          on: function () {},
          getSelectedPaymentMethod: function () { return Promise.resolve({code: "CARD"}); },
          destroy: function () {
            where.replaceChildren();
            methodsRendered = false;
            amountLabels = [];
            return Promise.resolve();
          }
        });
      },

      renderAgreement: function (o) {
        var verr = checkVariant(o && o.variantKey);
        if (verr) return Promise.reject(verr);
        if (agreementRendered) {
          return Promise.reject(sdkError("AgreementWidgetAlreadyRenderedError", "ALREADY_RENDERED",
            "약관 위젯이 이미 렌더링되었습니다. destroy() 후에 다시 렌더링하세요."));
        }
        var target = findElement(o && o.selector);
        if (!target) {
          return Promise.reject(sdkError("InvalidSelectorError", "INVALID_SELECTOR", "selector에 해당하는 엘리먼트가 없습니다."));
        }
        var where = target;
        agreementRendered = true;
        var label = el("label", {});
        var box = /** @type {HTMLInputElement} */ (el("input", {type: "checkbox", "data-testid": "toss-agreement"}));
        box.checked = true;
        agreed = box;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" [필수] 결제 서비스 이용 약관 동의 (테스트)"));
        where.replaceChildren(label);
        /** @type {Array<(s: import("@tosspayments/tosspayments-sdk").WidgetAgreementStatus) => void>} */
        var listeners = [];
        box.addEventListener("change", function () {
          var status = {agreedRequiredTerms: box.checked,
            agreements: [{term: {id: "sandbox-terms", required: true}, agreed: box.checked}]};
          listeners.forEach(function (f) { f(status); });
        });
        return Promise.resolve({
          on: function (_eventName, callback) { listeners.push(callback); },
          destroy: function () {
            where.replaceChildren();
            agreementRendered = false;
            agreed = null;
            return Promise.resolve();
          }
        });
      },

      requestPayment: function (p) {
        if (amount === null) {
          return Promise.reject(sdkError("NotSetupAmountError", "NOT_SETUP_AMOUNT",
            "requestPayment() 전에 setAmount()를 호출해주세요."));
        }
        return pay(p, amount);
      },

      // Deprecated in the SDK; the amount comes with the request.
      requestPaymentWindow: function (p) {
        var err = checkAmount(p && p.amount);
        if (err) return Promise.reject(err);
        return pay(p, {currency: p.amount.currency, value: p.amount.value});
      },

      renderPaymentWindow: function (params) {
        if (amount === null) {
          return Promise.reject(sdkError("NotSetupAmountError", "NOT_SETUP_AMOUNT",
            "renderPaymentWindow() 전에 setAmount()를 호출해주세요."));
        }
        var vk = params && params.variantKey;
        var verr = checkVariant(vk && vk.paymentMethod) || checkVariant(vk && vk.agreement);
        if (verr) return Promise.reject(verr);
        /** @type {Record<string, Array<(arg?: any) => Promise<void>>>} */
        var handlers = {paymentRequest: [], cancel: []};
        var overlay = el("div", {"class": "toss-sandbox-window", "data-testid": "toss-payment-window"});
        overlay.appendChild(el("p", {}, "SANDBOX 결제창 · 카드 (테스트) " + formatWon(amount.value)));
        var payButton = el("button", {type: "button", "data-testid": "toss-window-pay"}, "결제하기");
        var cancelButton = el("button", {type: "button", "data-testid": "toss-window-cancel"}, "닫기");
        payButton.addEventListener("click", function () {
          handlers.paymentRequest.forEach(function (f) { f({paymentMethod: {code: "CARD"}}); });
        });
        cancelButton.addEventListener("click", function () {
          overlay.remove();
          handlers.cancel.forEach(function (f) { f(); });
        });
        overlay.appendChild(payButton);
        overlay.appendChild(cancelButton);
        document.body.appendChild(overlay);
        return Promise.resolve({
          on: /** @type {any} */ (function (/** @type {string} */ eventName, /** @type {(arg?: any) => Promise<void>} */ callback) {
            if (handlers[eventName]) handlers[eventName].push(callback);
          }),
          destroy: function () { overlay.remove(); return Promise.resolve(); }
        });
      }
    };
    return api;
  }

  /**
   * checkAPIKey refuses a widget key where the SDK wants an API-individual
   * client key (payment(), brandpay()).
   * @param {string} clientKey
   * @param {string} what
   */
  function checkAPIKey(clientKey, what) {
    if (!/^(test|live)_ck_/.test(clientKey)) {
      throw sdkError("InvalidClientKeyError", "INVALID_CLIENT_KEY",
        "API 개별 연동 키의 클라이언트 키(*_ck_*)로 " + what + "()를 사용해주세요.");
    }
  }

  /**
   * @param {string} clientKey
   * @param {{customerKey: string}} opts
   * @returns {import("@tosspayments/tosspayments-sdk").TossPaymentsPayment}
   */
  function payment(clientKey, opts) {
    checkAPIKey(clientKey, "payment");
    var customerKey = opts && opts.customerKey;
    checkCustomerKey(customerKey);
    return {
      requestPayment: /** @type {any} */ (function (/** @type {any} */ p) {
        if (!p || typeof p !== "object") {
          return Promise.reject(sdkError("InvalidParametersError", "INVALID_PARAMETERS", "결제 요청 파라미터가 없습니다."));
        }
        if (p.method !== "CARD") {
          return unsupported("카드(CARD) 외의 결제수단");
        }
        var err = checkAmount(p.amount);
        if (err) return Promise.reject(err);
        if (p.amount.value <= 0) {
          return Promise.reject(sdkError("InvalidAmountValueError", "INVALID_AMOUNT_VALUE", "결제 금액은 0보다 커야 합니다."));
        }
        return request(clientKey, String(customerKey), "payment", p, p.amount);
      }),
      requestBillingAuth: function () { return unsupported("자동결제(빌링)"); },
      destroy: function () { return Promise.resolve(); }
    };
  }

  /**
   * @param {string} clientKey
   * @param {{customerKey: string}} opts
   * @returns {import("@tosspayments/tosspayments-sdk").TossPaymentsBrandpay}
   */
  function brandpay(clientKey, opts) {
    checkAPIKey(clientKey, "brandpay");
    checkCustomerKey(opts && opts.customerKey);
    return {
      requestPayment: /** @type {any} */ (function () { return unsupported("브랜드페이"); }),
      changePassword: function () { return unsupported("브랜드페이"); },
      addPaymentMethod: function () { return unsupported("브랜드페이"); },
      openSettings: function () { return unsupported("브랜드페이"); },
      changeOneTouchPay: function () { return unsupported("브랜드페이"); },
      isOneTouchPayEnabled: function () { return unsupported("브랜드페이"); },
      requestBillingAuth: function () { return unsupported("브랜드페이"); }
    };
  }

  /**
   * @param {string} clientKey
   * @returns {import("@tosspayments/tosspayments-sdk").TossPaymentsSDK}
   */
  function TossPayments(clientKey) {
    if (typeof clientKey !== "string" || clientKey === "") {
      throw sdkError("InvalidClientKeyError", "INVALID_CLIENT_KEY", "클라이언트 키가 필요합니다.");
    }
    return {
      widgets: function (opts) { return widgets(clientKey, opts); },
      brandpay: function (opts) { return brandpay(clientKey, opts); },
      payment: function (opts) { return payment(clientKey, opts); }
    };
  }
  TossPayments.ANONYMOUS = ANONYMOUS;

  /** @type {any} */ (global).TossPayments = TossPayments;
})(window);
