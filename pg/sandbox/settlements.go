package sandbox

import (
	"net/http"
	"sort"
	"strconv"
	"time"
)

// feePerMille is the sandbox's card fee: 3.2 %, VAT included.
const feePerMille = 32

type settlementJSON struct {
	MID            string      `json:"mId"`
	PaymentKey     string      `json:"paymentKey"`
	TransactionKey string      `json:"transactionKey"`
	OrderID        string      `json:"orderId"`
	Currency       string      `json:"currency"`
	Method         string      `json:"method"`
	Amount         int64       `json:"amount"`
	InterestFee    int64       `json:"interestFee"`
	Fees           []feeJSON   `json:"fees"`
	Fee            int64       `json:"fee"`
	SupplyAmount   int64       `json:"supplyAmount"`
	VAT            int64       `json:"vat"`
	PayOutAmount   int64       `json:"payOutAmount"`
	ApprovedAt     string      `json:"approvedAt"`
	SoldDate       string      `json:"soldDate"`
	PaidOutDate    string      `json:"paidOutDate"`
	Card           *cardJSON   `json:"card"`
	EasyPay        any         `json:"easyPay"`
	GiftCert       any         `json:"giftCertificate"`
	MobilePhone    any         `json:"mobilePhone"`
	Transfer       any         `json:"transfer"`
	VirtualAccount any         `json:"virtualAccount"`
	Cancel         *cancelJSON `json:"cancel"`
}

type feeJSON struct {
	Type string `json:"type"`
	Fee  int64  `json:"fee"`
}

// feeOf is the fee on a signed amount, rounded half away from zero, so a
// cancel row refunds exactly the fee its sale row charged.
func feeOf(amount int64) int64 {
	if amount < 0 {
		return -feeOf(-amount)
	}
	return (amount*feePerMille + 500) / 1000
}

// payoutDate is two business days after the sale, a typical card payout.
func payoutDate(sold time.Time) time.Time {
	d := time.Date(sold.Year(), sold.Month(), sold.Day(), 0, 0, 0, 0, kst)
	for n := 0; n < 2; {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return d
}

// parseSettlementDate reads yyyy-MM-dd (a whole day) or an ISO datetime, in KST.
func parseSettlementDate(v string, end bool) (time.Time, bool) {
	if t, err := time.ParseInLocation(time.DateOnly, v, kst); err == nil {
		if end {
			t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
		}
		return t, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, kst); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Sandbox) handleSettlements(w http.ResponseWriter, r *http.Request) {
	s.serveAPI(w, r, OpSettlements, nil, s.settlements)
}

// settlements lists one row per approval and one per cancel, as Toss does,
// filtered by soldDate (the transaction's KST date) or paidOutDate.
func (s *Sandbox) settlements(c *call) response {
	q := c.r.URL.Query()
	start, ok1 := parseSettlementDate(q.Get("startDate"), false)
	end, ok2 := parseSettlementDate(q.Get("endDate"), true)
	if !ok1 || !ok2 {
		return errResponse(newError("INVALID_REQUEST", "startDate, endDate는 yyyy-MM-dd 형식의 필수 값입니다."))
	}
	dateType := q.Get("dateType")
	if dateType == "" {
		dateType = "soldDate"
	}
	if dateType != "soldDate" && dateType != "paidOutDate" {
		return errResponse(newError("INVALID_REQUEST", "dateType은 soldDate 또는 paidOutDate 입니다."))
	}
	page, size := 1, 100
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errResponse(newError("INVALID_REQUEST", "page는 1 이상입니다."))
		}
		page = n
	}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			return errResponse(newError("INVALID_REQUEST", "size는 1 이상 5000 이하입니다."))
		}
		size = n
	}

	type row struct {
		at   time.Time
		json settlementJSON
	}
	var rows []row
	s.mu.Lock()
	for _, p := range s.payments {
		if !p.settled() {
			continue
		}
		pj := s.render(p, c.en)
		add := func(at time.Time, amount int64, tx string, cancel *cancelJSON) {
			paid := payoutDate(at.In(kst))
			when := at
			if dateType == "paidOutDate" {
				when = paid
			}
			if when.Before(start) || when.After(end) {
				return
			}
			fee := feeOf(amount)
			supply, vat := vatOf(fee)
			line := settlementJSON{
				MID: mID, PaymentKey: p.key, TransactionKey: tx, OrderID: p.orderID,
				Currency: "KRW", Method: *pj.Method, Amount: amount,
				Fees: []feeJSON{{Type: "BASE", Fee: fee}}, Fee: fee,
				SupplyAmount: supply, VAT: vat, PayOutAmount: amount - fee,
				ApprovedAt: isoTime(p.approvedAt), SoldDate: at.In(kst).Format(time.DateOnly),
				PaidOutDate: paid.Format(time.DateOnly), Card: pj.Card, Cancel: cancel,
			}
			if cancel != nil {
				rows = append(rows, row{at: at, json: line})
				return
			}
			for _, l := range s.corruptSale(p.orderID, line) {
				rows = append(rows, row{at: at, json: l})
			}
		}
		add(p.approvedAt, p.amount, p.approveTxKey, nil)
		for i, cn := range p.cancels {
			add(cn.at, -cn.amount, cn.txKey, &pj.Cancels[i])
		}
	}
	for _, f := range s.foreignLines {
		paid := payoutDate(f.at.In(kst))
		when := f.at
		if dateType == "paidOutDate" {
			when = paid
		}
		if when.Before(start) || when.After(end) {
			continue
		}
		fee := feeOf(f.amount)
		supply, vat := vatOf(fee)
		method := "카드"
		rows = append(rows, row{at: f.at, json: settlementJSON{
			MID: mID, PaymentKey: f.paymentKey, TransactionKey: f.txKey, OrderID: f.orderID,
			Currency: "KRW", Method: method, Amount: f.amount,
			Fees: []feeJSON{{Type: "BASE", Fee: fee}}, Fee: fee, SupplyAmount: supply, VAT: vat,
			PayOutAmount: f.amount - fee, ApprovedAt: isoTime(f.at), SoldDate: f.at.In(kst).Format(time.DateOnly),
			PaidOutDate: paid.Format(time.DateOnly),
		}})
	}
	s.mu.Unlock()

	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].at.Equal(rows[j].at) {
			return rows[i].at.Before(rows[j].at)
		}
		return rows[i].json.TransactionKey < rows[j].json.TransactionKey
	})
	out := []settlementJSON{}      // a bare array, "[]" when empty, never null
	if page-1 < len(rows)/size+1 { // guards the multiplication against overflow
		for i := (page - 1) * size; i < len(rows) && i < page*size; i++ {
			out = append(out, rows[i].json)
		}
	}
	return jsonResponse(http.StatusOK, out)
}
