import { isIPv4, isIPv6 } from 'node:net';
import type { AddressRule } from '../config/types.ts';
import type { AnyContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';

/**
 * `ipAllow` / `ipDeny` (nginx allow/deny): the client address the pipeline resolved (trustProxy:
 * the first untrusted hop of X-Forwarded-For) against the route's lists. A denied address is
 * refused whatever the allow list says; with an allow list, only its addresses pass. Nothing
 * reaches the upstream, the login or the rate counters for a refused address.
 */
export function checkClientAddress(): Stage<AnyContext> {
  return (ctx) => {
    const rule = ctx.route!.addresses;
    if (rule === undefined) return;
    if (!addressAdmitted(rule, ctx.clientIp)) throw new GatewayError('PORTICO_ERR_ADDRESS_DENIED');
  };
}

/** Whether a route's `ipAllow` / `ipDeny` let this address in (also asked again of open tunnels at a reload). */
export function addressAdmitted(rule: AddressRule, ip: string): boolean {
  const address = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  // An address that is not one (a trusted proxy's "unknown") is in no list: an allow list refuses it.
  if (type === undefined) return rule.allow === undefined;
  if (rule.deny?.check(address, type)) return false;
  return rule.allow === undefined || rule.allow.check(address, type);
}
