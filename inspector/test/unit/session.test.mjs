// Reading who a pasted token names (the server verifies it; the page shows it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from './load.mjs';

const { identityOf } = await load('src/session.ts');
const jwt = (claims) => `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('user, roles and expiry from the claims', () => {
  assert.deepEqual(identityOf(jwt({ sub: 'ada', roles: ['analyst', 7], exp: 2000000000 })), { user: 'ada', roles: ['analyst'], expiresAt: 2000000000000 });
  assert.deepEqual(identityOf(jwt({ sub: 'bo' })), { user: 'bo', roles: [], expiresAt: undefined });
});

test('what is not a token is refused with a reason', () => {
  assert.throws(() => identityOf('abc'), /not a JWT/);
  assert.throws(() => identityOf('a.!!!.c'), /not a JWT/);
  assert.throws(() => identityOf(jwt({ roles: [] })), /names no user/);
});
