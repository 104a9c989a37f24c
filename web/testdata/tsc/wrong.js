// A deliberately wrong use of the SDK: the type check must reject every
// call below, proving it can fail (web/checkout_typecheck_test.go).
// @ts-check
(function () {
  "use strict";
  var widgets = window.TossPayments("test_gck_x").widgets({customerKey: "cus_1"});
  // No currency: the SDK's Amount requires it.
  widgets.setAmount({value: 1000});
  // orderId is a string; amount is not an argument of the widget's requestPayment.
  widgets.requestPayment({orderId: 42, orderName: "x", successUrl: "https://a/s", failUrl: "https://a/f"});
  // A sandbox-only method the real SDK does not have.
  widgets.updateAmount(2000);
})();
