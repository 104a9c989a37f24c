package graph

import (
	"github.com/pago/pago/graph/model"
	"github.com/pago/pago/payment"
)

func toGQLUser(u payment.User) *model.User {
	return &model.User{ID: u.ID, Name: u.Name, IsAdmin: u.IsAdmin}
}
