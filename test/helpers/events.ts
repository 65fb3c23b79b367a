import type { EventBus, EventName, GatewayEvents } from '../../gateway/events.ts';

/**
 * The next `name` event on a gateway's bus that `match` accepts; rejects after `timeoutMs`.
 * Call it before the action that causes the event, and await it after.
 */
export function nextEvent<K extends EventName>(
  events: EventBus,
  name: K,
  match: (event: GatewayEvents[K]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<GatewayEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = events.on(name, (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}
