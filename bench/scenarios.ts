import { runIdle } from './idle.js';
import { runLatency } from './latency.js';
import type { Scenario } from './scenario.js';
import { runThroughput } from './throughput.js';

/** Messages a publisher may have on their way to the subscriber(s) in the fan-in scenarios. */
const FANIN_WINDOW = 1000;
/** QoS 1/2 publishes a publisher may have awaiting PUBACK/PUBCOMP. */
const ACK_WINDOW = 100;

/** Every scenario, in the order a full run executes them. */
export const SCENARIOS: readonly Scenario[] = Object.freeze([
  {
    name: 'fanin-qos0',
    description: '10 publishers → 1 subscriber, QoS 0',
    run: (context) =>
      runThroughput({ publishers: 10, subscribers: 1, qos: 0, ackWindow: ACK_WINDOW, deliveryWindow: FANIN_WINDOW }, context),
  },
  {
    name: 'fanin-qos1',
    description: '10 publishers → 1 subscriber, QoS 1',
    run: (context) =>
      runThroughput({ publishers: 10, subscribers: 1, qos: 1, ackWindow: ACK_WINDOW, deliveryWindow: FANIN_WINDOW }, context),
  },
  {
    name: 'fanin-qos2',
    description: '10 publishers → 1 subscriber, QoS 2',
    run: (context) =>
      runThroughput({ publishers: 10, subscribers: 1, qos: 2, ackWindow: ACK_WINDOW, deliveryWindow: FANIN_WINDOW }, context),
  },
  {
    name: 'fanout-qos0',
    description: '1 publisher → 50 subscribers, QoS 0 (deliveries/s)',
    run: (context) => runThroughput({ publishers: 1, subscribers: 50, qos: 0, ackWindow: ACK_WINDOW, deliveryWindow: 200 }, context),
  },
  {
    name: 'latency',
    description: '1000 msg/s QoS 0, 1 publisher → 1 subscriber, one-way p50/p99',
    run: (context) => runLatency(1000, context),
  },
  {
    name: 'idle',
    description: '1000 idle connections (keepalive 60), broker RSS growth per 1k',
    run: (context) => runIdle(1000, context),
  },
]);

/** The scenario called `name`, if any. */
export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}
