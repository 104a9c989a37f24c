package sandbox

import (
	"fmt"
	"net/http"
)

// Error is a Toss API error: an HTTP status and the {code, message} body.
// The Go helpers (CreatePayment, Authenticate) return it too.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("toss sandbox: %d %s: %s", e.Status, e.Code, e.Message)
}

// apiError is the wire body of an error and of Payment.failure.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// newError builds an Error for code with Toss's HTTP status and a message;
// an empty message takes the stock one.
func newError(code, message string) *Error {
	status, stock := errorInfo(code)
	if message == "" {
		message = stock
	}
	return &Error{Status: status, Code: code, Message: message}
}

// errorInfo returns Toss's HTTP status and a stock Korean message for code
// (docs/toss.md §6 and §10). Unknown codes are 400s, the most common class.
func errorInfo(code string) (int, string) {
	switch code {
	case "ALREADY_PROCESSED_PAYMENT":
		return http.StatusBadRequest, "이미 처리된 결제 입니다."
	case "PROVIDER_ERROR":
		return http.StatusBadRequest, "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요."
	case "CARD_PROCESSING_ERROR":
		return http.StatusBadRequest, "카드사에서 오류가 발생했습니다."
	case "INVALID_REQUEST":
		return http.StatusBadRequest, "잘못된 요청입니다."
	case "INVALID_IDEMPOTENCY_KEY":
		return http.StatusBadRequest, "멱등키가 올바르지 않습니다. 300자 이하로 보내주세요."
	case "INVALID_API_KEY":
		return http.StatusBadRequest, "잘못된 시크릿키 연동 정보 입니다."
	case "BELOW_MINIMUM_AMOUNT":
		return http.StatusBadRequest, "신용카드는 결제금액이 100원 이상, 계좌는 200원 이상부터 결제가 가능합니다."
	case "DUPLICATED_ORDER_ID":
		return http.StatusBadRequest, "이미 승인 및 취소가 진행된 중복된 주문번호 입니다."
	case "ALREADY_CANCELED_PAYMENT":
		return http.StatusBadRequest, "이미 취소된 결제 입니다."
	case "NOT_MATCHES_REFUNDABLE_AMOUNT":
		return http.StatusBadRequest, "잔액 결과가 일치하지 않습니다."
	case "UNAUTHORIZED_KEY":
		return http.StatusUnauthorized, "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."
	case "INCORRECT_BASIC_AUTH_FORMAT":
		return http.StatusForbidden, "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요."
	case "REJECT_CARD_PAYMENT":
		return http.StatusForbidden, "한도초과 혹은 잔액부족으로 결제에 실패했습니다."
	case "REJECT_CARD_COMPANY", "REJECT_ACCOUNT_PAYMENT", "FORBIDDEN_REQUEST", "EXCEED_MAX_AUTH_COUNT",
		"INVALID_PASSWORD", "FDS_ERROR", "NOT_AVAILABLE_BANK",
		"NOT_CANCELABLE_PAYMENT", "EXCEED_MAX_REFUND_DUE", "NOT_ALLOWED_PARTIAL_REFUND",
		"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT":
		return http.StatusForbidden, "요청을 처리할 수 없습니다."
	case "FORBIDDEN_CONSECUTIVE_REQUEST":
		return http.StatusForbidden, "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요."
	case "NOT_CANCELABLE_AMOUNT":
		return http.StatusForbidden, "취소 할 수 없는 금액 입니다."
	case "NOT_FOUND_PAYMENT":
		return http.StatusNotFound, "존재하지 않는 결제 정보 입니다."
	case "NOT_FOUND":
		return http.StatusNotFound, "존재하지 않는 정보 입니다."
	case "NOT_FOUND_PAYMENT_SESSION":
		return http.StatusNotFound, "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다."
	case "IDEMPOTENT_REQUEST_PROCESSING":
		return http.StatusConflict, "이전 멱등 요청이 처리중 입니다."
	case "FAILED_INTERNAL_SYSTEM_PROCESSING":
		return http.StatusInternalServerError, "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요."
	case "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING":
		return http.StatusInternalServerError, "결제가 완료되지 않았어요. 다시 시도해주세요."
	case "UNKNOWN_PAYMENT_ERROR":
		return http.StatusInternalServerError, "결제에 실패했어요. 같은 문제가 반복된다면 은행이나 카드사로 문의해주세요."
	case "FAILED_REFUND_PROCESS", "FAILED_PARTIAL_REFUND", "FAILED_METHOD_HANDLING_CANCEL", "COMMON_ERROR":
		return http.StatusInternalServerError, "일시적인 오류가 발생했습니다."
	}
	return http.StatusBadRequest, "요청을 처리할 수 없습니다."
}
