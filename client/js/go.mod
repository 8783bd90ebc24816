// This file only keeps the go command out of client/js (its node_modules
// are not Go code): `go test ./...` skips a directory holding a go.mod of
// its own. There is no Go code here.
module github.com/micropay/micropay/client/js

go 1.22
