package sandbox

// Test card names. The pay page shows one button per card with
// data-testid "card-<name>"; POST /_sandbox/authenticate takes the name.
const (
	// CardSuccess is approved by confirm.
	CardSuccess = "success"
	// CardDeclined is refused by confirm with 403 REJECT_CARD_PAYMENT; the
	// payment becomes ABORTED.
	CardDeclined = "declined"
	// CardInsufficient is refused by confirm with 403 REJECT_CARD_PAYMENT and
	// an insufficient-funds message; the payment becomes ABORTED.
	CardInsufficient = "insufficient"
	// CardSlow is approved (DONE at once) but confirm holds its response for
	// Config.SlowCardDelay: the PG committed and the merchant timed out.
	CardSlow = "slow"
	// CardAuthFail fails authentication on the pay page: the customer is sent
	// straight to failUrl with code REJECT_CARD_COMPANY and nothing changes.
	CardAuthFail = "auth-fail"
)

// testCard is what a card does at each step and what the Payment reports.
type testCard struct {
	name, label, hint string

	issuerCode, number, cardType string

	// authFailCode, when set, makes authentication fail with this failUrl code.
	authFailCode, authFailMessage string
	// declineCode, when set, makes confirm fail: the payment is ABORTED.
	declineStatus               int
	declineCode, declineMessage string
	// slow holds the confirm response after committing.
	slow bool
}

// testCards lists the cards in the order the pay page shows them.
func testCards() []testCard {
	return []testCard{
		{name: CardSuccess, label: "승인 카드 (success)", hint: "confirm → DONE",
			issuerCode: "41", number: "43301234****123*", cardType: "신용"},
		{name: CardDeclined, label: "거절 카드 (declined)", hint: "confirm → 403 REJECT_CARD_PAYMENT",
			issuerCode: "61", number: "94904567****456*", cardType: "신용",
			declineStatus: 403, declineCode: "REJECT_CARD_PAYMENT", declineMessage: "카드사에서 승인을 거절했습니다."},
		{name: CardInsufficient, label: "잔액 부족 카드 (insufficient)", hint: "confirm → 403 REJECT_CARD_PAYMENT",
			issuerCode: "11", number: "53651234****789*", cardType: "체크",
			declineStatus: 403, declineCode: "REJECT_CARD_PAYMENT", declineMessage: "한도초과 혹은 잔액부족으로 결제에 실패했습니다."},
		{name: CardSlow, label: "느린 카드 (slow)", hint: "confirm commits, answers late",
			issuerCode: "51", number: "51234567****321*", cardType: "신용", slow: true},
		{name: CardAuthFail, label: "인증 실패 카드 (auth-fail)", hint: "back to failUrl",
			issuerCode: "31", number: "91001234****999*", cardType: "신용",
			authFailCode: "REJECT_CARD_COMPANY", authFailMessage: "카드사 인증에 실패했습니다."},
	}
}

// findCard returns the test card called name.
func findCard(name string) (testCard, bool) {
	for _, c := range testCards() {
		if c.name == name {
			return c, true
		}
	}
	return testCard{}, false
}
