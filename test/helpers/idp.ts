import type { TestContext } from 'node:test';
import type { DemoUser } from '../../scripts/demo/idp.ts';
import { type Idp, type IdpOptions, startIdp } from '../../scripts/demo/idp.ts';

export {
  API_RESOURCE,
  API_SCOPES,
  CookieJar,
  clientCredentialsToken,
  DEFAULT_USERS,
  type DemoUser,
  DriveError,
  type DriveLoginResult,
  type DriveLogoutResult,
  driveLogin,
  driveLogout,
  httpRequest,
  type Idp,
  type IdpClient,
  type IdpOptions,
} from '../../scripts/demo/idp.ts';

/** A real OpenID Connect provider on 127.0.0.1:0 (see scripts/demo/idp.ts), closed after the test. */
export async function startTestIdp(t: Pick<TestContext, 'after'>, options: IdpOptions = {}): Promise<Idp> {
  const idp = await startIdp(options);
  t.after(() => idp.close());
  return idp;
}

/**
 * Users for the Google and GitLab providers: alice in the allowed GitLab subgroup (and its parent)
 * of the acme Workspace; eve with the same address domain but another Workspace (Google's `hd`)
 * and no allowed GitLab group.
 */
export const WORKSPACE_USERS: DemoUser[] = [
  {
    id: '110248495921238986420',
    username: 'alice',
    password: 'alice',
    email: 'alice@example.com',
    name: 'Alice Zhang',
    groups: ['acme/platform', 'acme'],
  },
  {
    id: '110248495921238986421',
    username: 'eve',
    password: 'eve',
    email: 'eve@example.com',
    name: 'Eve Outsider',
    groups: ['other-group'],
    hd: 'other.example',
  },
];
