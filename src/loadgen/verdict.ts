import type { ScenarioMetrics } from './metrics.js';

/**
 * What went wrong in a run, one line per problem; empty when the run passed. At QoS 1 and 2 every
 * lost, duplicated, reordered or unexpected message is a failure. At QoS 0 the broker may drop
 * messages (at most once), so losses are only reported, but a duplicate, a reordering within one
 * publisher's topic or an unexpected message is still a failure. Connections that fail to open or
 * drop during the run, and a run that delivered nothing, are failures too.
 */
export function problems(metrics: ScenarioMetrics): string[] {
  const found: string[] = [];
  const c = metrics.counts;
  if (c !== undefined) {
    const atLeastOnce = (metrics.qos ?? 0) > 0;
    if (atLeastOnce && c.lost > 0) found.push(`${c.lost} message(s) lost at QoS ${metrics.qos ?? 0}`);
    if (c.duplicated > 0) found.push(`${c.duplicated} message(s) duplicated`);
    if (c.reordered > 0) found.push(`${c.reordered} message(s) reordered`);
    if (c.unexpected > 0) found.push(`${c.unexpected} unexpected message(s) (sequence numbers never sent)`);
    if (c.received === 0) found.push('no message was delivered');
  }
  if ((metrics.connectFailures ?? 0) > 0) found.push(`${metrics.connectFailures ?? 0} connection(s) failed to open`);
  if ((metrics.connectionsLost ?? 0) > 0) found.push(`${metrics.connectionsLost ?? 0} connection(s) lost during the run`);
  return found;
}
