// The global the PG's script tag defines (https://js.tosspayments.com/v2/standard),
// typed by the official @tosspayments/tosspayments-sdk package. checkout.js
// is type-checked against it (web/checkout_typecheck_test.go).
import type { TossPaymentsSDK } from "@tosspayments/tosspayments-sdk";

declare global {
  interface Window {
    TossPayments: ((clientKey: string) => TossPaymentsSDK) & { ANONYMOUS: "@@ANONYMOUS" };
  }
}

export {};
