package main

import "github.com/pago/pago/payment"

// demoProducts is the catalogue dev mode starts with (payment.Service's
// SeedProducts writes it once, into an empty catalogue).
var demoProducts = []payment.UpsertProductInput{
	{SKU: "tea-jeju-green", Name: "Jeju green tea 50g", Price: 12_000, Stock: 100},
	{SKU: "mug-celadon", Name: "Celadon mug", Price: 28_000, Stock: 20},
	{SKU: "notebook-hanji", Name: "Hanji notebook", Price: 9_500, Stock: 50},
	{SKU: "poster-limited", Name: "Limited poster (10 only)", Price: 45_000, Stock: 10},
}
