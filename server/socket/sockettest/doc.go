// Package sockettest drives real socket.io-client processes (Node.js) for
// tests of the socket layer and of whatever is built on it (the spell
// manager): socket.io-client 2.5.0 (Engine.IO 3) and 4.x (Engine.IO 4), both
// pinned in testdata/clients/package.json under the npm aliases sio2 and
// sio4, run side by side in one Node process.
//
// The modules are installed by `npm ci --prefix server/socket/testdata/clients`
// (the Makefile does it before tests); go test never runs npm. Without them a
// test fails when CI=true and is skipped otherwise.
//
// It imports only the standard library, so any package's tests may use it.
package sockettest
