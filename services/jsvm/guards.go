package jsvm

import (
	"fmt"

	"github.com/dop251/goja"

	"github.com/grimoire-run/grimoire/services"
)

// guardSource replaces builtins whose native implementation loops over a
// whole array or builds a whole string in one uninterruptible step with
// wrappers that check the size first. It runs before the user's code, in
// every fresh runtime.
const guardSource = `(function (limit, maxLen, maxStr) {
  'use strict';
  var apply = Reflect.apply, define = Object.defineProperty, g = globalThis;
  function lengthOf(x) {
    if (x === null || x === undefined) return 0;
    var n = Number(Object(x).length);
    return n > 0 ? n : 0;
  }
  function checkArray(x) { var n = lengthOf(x); if (n > maxLen) limit('array', n); }
  function wrap(obj, name, check) {
    var orig = obj[name];
    if (typeof orig !== 'function') return;
    var w = ({ [name]: function () { check(this, arguments); return apply(orig, this, arguments); } })[name];
    define(obj, name, { value: w, writable: true, configurable: true, enumerable: false });
  }
  var thisArray = function (self) { checkArray(self); };
  ['concat', 'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex',
   'flat', 'flatMap', 'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce',
   'reduceRight', 'reverse', 'slice', 'some', 'sort', 'splice', 'toLocaleString', 'toString',
   'toReversed', 'toSorted', 'toSpliced', 'with'].forEach(function (m) {
    wrap(Array.prototype, m, m === 'concat'
      ? function (self, args) { var n = lengthOf(self); for (var i = 0; i < args.length; i++) n += lengthOf(args[i]); if (n > maxLen) limit('array', n); }
      : thisArray);
  });
  wrap(Array, 'from', function (self, args) { checkArray(args[0]); });
  wrap(Function.prototype, 'apply', function (self, args) { checkArray(args[1]); });
  wrap(Reflect, 'apply', function (self, args) { checkArray(args[2]); });
  wrap(Reflect, 'construct', function (self, args) { checkArray(args[1]); });
  wrap(String.prototype, 'repeat', function (self, args) {
    var n = String(self).length * Number(args[0]);
    if (n > maxStr) limit('string', n);
  });
  ['padStart', 'padEnd'].forEach(function (m) {
    wrap(String.prototype, m, function (self, args) { var n = Number(args[0]); if (n > maxStr) limit('string', n); });
  });
})`

// removedGlobals allocate their whole size in one constructor call.
var removedGlobals = []string{"ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray",
	"Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"}

var guardProgram = goja.MustCompile("sandbox-guards", guardSource, true)

func (s *Sandbox) installGuards(vm *goja.Runtime) error {
	v, err := vm.RunProgram(guardProgram)
	if err != nil {
		return err
	}
	install, ok := goja.AssertFunction(v)
	if !ok {
		return fmt.Errorf("guard program is not a function")
	}
	limit := func(call goja.FunctionCall) goja.Value {
		kind := call.Argument(0).String()
		n := call.Argument(1).ToInteger()
		var le *services.LimitError
		if kind == "string" {
			le = &services.LimitError{Err: services.ErrSandboxSize,
				Message: fmt.Sprintf("exceeded its size limit: a string of %d characters (at most %d)", n, s.opts.MaxStringLength)}
		} else {
			le = &services.LimitError{Err: services.ErrSandboxSize,
				Message: fmt.Sprintf("exceeded its size limit: an array of %d elements (at most %d)", n, s.opts.MaxArrayLength)}
		}
		// Interrupt makes the limit uncatchable; the panic stops the builtin.
		vm.Interrupt(le)
		panic(vm.NewGoError(le))
	}
	if _, err = install(goja.Undefined(), vm.ToValue(limit), vm.ToValue(s.opts.MaxArrayLength), vm.ToValue(s.opts.MaxStringLength)); err != nil {
		return err
	}
	// Setting (rather than deleting) keeps goja from building each
	// constructor just to remove it.
	g := vm.GlobalObject()
	for _, name := range removedGlobals {
		if err := g.Set(name, goja.Undefined()); err != nil {
			return err
		}
	}
	return nil
}
