import type { TestContext } from 'node:test';
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
