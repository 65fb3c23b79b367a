// The return path after login: a path on this site, never one of Portico's own pages — except the
// OpenID Provider's pending authorization, which a login must be able to come back to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeReturnPath } from '../../gateway/auth/safeReturnPath.ts';

describe('safeReturnPath and the OpenID Provider interaction', () => {
  it("returns to the OpenID Provider's pending authorization", () => {
    for (const path of [
      '/_portico/oidc/interaction/AbC_-123',
      `/_portico/oidc/interaction/${'a'.repeat(64)}`,
    ])
      assert.equal(safeReturnPath(path), path);
  });

  it('refuses every other own page, and anything more or less than the interaction path', () => {
    for (const path of [
      '/_portico/oidc/interaction/',
      '/_portico/oidc/interaction/abc/login',
      '/_portico/oidc/interaction/abc/',
      '/_portico/oidc/interaction/abc?prompt=login',
      '/_portico/oidc/interaction/abc#x',
      `/_portico/oidc/interaction/${'a'.repeat(65)}`,
      '/_portico/oidc/interaction/a.b',
      '/_portico/oidc/interaction/a%2Fb',
      '/_portico/oidc/interaction/abc/../../admin/config',
      '/_portico/oidc/interaction/../../logout',
      '/_portico/oidc/auth/abc',
      '/_portico/oidc/session/end',
      '/_portico/logout',
      '/_portico/admin/config',
      '//_portico/oidc/interaction/abc',
      '/\\_portico/oidc/interaction/abc',
    ])
      assert.equal(safeReturnPath(path), '/', path);
  });

  it('keeps ordinary paths as before', () => {
    assert.equal(safeReturnPath('/dce5/jobs?tab=gpu'), '/dce5/jobs?tab=gpu');
    assert.equal(safeReturnPath('/oidc/interaction/abc'), '/oidc/interaction/abc');
  });
});
