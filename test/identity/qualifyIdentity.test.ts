// Names from several identity providers never collide, in either direction: the partner's alice is
// partner:alice, and the primary provider cannot have a user or group that reads as the partner's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity } from '../../gateway/context.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { namesTakenSince, qualifyIdentity } from '../../gateway/identity/qualifyIdentity.ts';

const ids = new Set(['corp', 'partner']);
const user = (idp: string, username: string, groups: string[] = []): Identity => ({
  idp,
  sub: `${idp}-${username}`,
  username,
  groups,
});

describe('qualified names', () => {
  it('qualifies the users and groups of every provider but the primary one', () => {
    const q = qualifyIdentity(user('partner', 'alice', ['admins']), 'corp', ids);
    assert.equal(q.username, 'partner:alice');
    assert.deepEqual(q.groups, ['partner:admins']);
    assert.equal(qualifyIdentity(user('corp', 'alice', ['admins']), 'corp', ids).username, 'alice');
  });

  it('refuses a primary user whose name reads as another provider’s user, and leaves out such groups', () => {
    assert.throws(
      () => qualifyIdentity(user('corp', 'partner:alice'), 'corp', ids),
      (err) => err instanceof GatewayError && err.code === 'PORTICO_ERR_FORBIDDEN',
    );
    const q = qualifyIdentity(
      user('corp', 'bob', ['partner:ai-users', 'staff', 'corp:x', 'team:a']),
      'corp',
      ids,
    );
    assert.deepEqual(q.groups, ['staff', 'corp:x', 'team:a']);
  });

  it('reads the provider in a primary name in any case: Partner:alice is the partner’s alice to an upstream that folds case', () => {
    for (const name of ['Partner:alice', 'PARTNER:alice'])
      assert.throws(
        () => qualifyIdentity(user('corp', name), 'corp', ids),
        (err) => err instanceof GatewayError && err.code === 'PORTICO_ERR_FORBIDDEN',
        name,
      );
    const q = qualifyIdentity(user('corp', 'bob', ['Partner:admins', 'staff']), 'corp', ids);
    assert.deepEqual(q.groups, ['staff']);
  });

  it('finds the names a provider added since took from a primary identity made before it', () => {
    const before = new Set(['corp']);
    const made = qualifyIdentity(user('corp', 'partner:alice', ['partner:admins']), 'corp', before);
    assert.equal(namesTakenSince(made, 'corp', before), false);
    assert.equal(namesTakenSince(made, 'corp', ids), true);
    assert.equal(namesTakenSince(user('corp', 'bob', ['partner:admins']), 'corp', ids), true, 'a group');
    assert.equal(namesTakenSince(user('corp', 'bob', ['staff']), 'corp', ids), false);
    assert.equal(namesTakenSince(user('partner', 'partner:x'), 'corp', ids), false, 'only primary names');
  });
  it('leaves out groups whose name holds a comma: upstreams split the groups header on it', () => {
    const partner = qualifyIdentity(
      user('partner', 'mallory', ['x,admins', 'y, ai-users', 'dev']),
      'corp',
      ids,
    );
    assert.deepEqual(partner.groups, ['partner:dev']);
    const primary = qualifyIdentity(user('corp', 'bob', ['x,partner:admins', 'staff']), 'corp', ids);
    assert.deepEqual(primary.groups, ['staff']);
  });

  it('refuses a user, and leaves out a group, whose name an upstream would read as another (control characters, blanks around it)', () => {
    for (const idp of ['corp', 'partner'])
      for (const name of [
        'alice ',
        ' alice',
        'alice\t',
        'ali\u0000ce',
        'ali\u001bce',
        'alice\u00a0',
        'alice\u3000',
        'alice\u0085',
        'alice\u007f',
      ])
        assert.throws(
          () => qualifyIdentity(user(idp, name), 'corp', ids),
          (err) => err instanceof GatewayError && err.code === 'PORTICO_ERR_FORBIDDEN',
          `${idp} ${JSON.stringify(name)}`,
        );
    const q = qualifyIdentity(
      user('corp', 'bob', [' admins', 'admins ', 'adm\u0000ins', 'GPU Admins', '张三组']),
      'corp',
      ids,
    );
    assert.deepEqual(q.groups, ['GPU Admins', '张三组']);
    // Names inside are fine: spaces, other scripts.
    assert.equal(qualifyIdentity(user('corp', 'Alice Zhang'), 'corp', ids).username, 'Alice Zhang');
    assert.equal(qualifyIdentity(user('partner', '张三'), 'corp', ids).username, 'partner:张三');
  });
});
