// Package views holds pago's server-rendered pages as templ components
// (*.templ, with the generated *_templ.go committed). Components take plain
// view structs prepared by web's handlers; they never query anything.
package views
