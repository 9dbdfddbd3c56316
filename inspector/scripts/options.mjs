// The esbuild options of the page's bundle, shared by the build and the unit
// tests (which bundle single modules of src/ to run them in Node).
export function bundleOptions(root) {
  return {
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
    alias: {
      '@grimoire-run/client': '../client-sdk/js/src/index.ts',
      // The SDK's own import resolves here, whether or not client-sdk/js has
      // its node_modules, so the bundle is the same either way.
      'socket.io-client': './node_modules/socket.io-client',
    },
  };
}
