/**
 * A publisher that behaves as a correct MQTT 5 client across broker crashes, over raw frames:
 * it keeps a window of QoS 1/2 messages in flight, and after each reconnect (clean start 0, same
 * client id) it resends, in the original order and with the original packet ids, every PUBLISH
 * whose PUBACK/PUBREC it did not receive (DUP=1) and every PUBREL whose PUBCOMP it did not
 * receive [MQTT-4.4.0-1]. It SIGKILLs the broker itself when the number of acknowledgements it
 * has received reaches one of the planned kill points, so kills land while messages are in
 * flight in every state.
 */
import type { Packet } from 'mqtt-packet';
import type { BrokerProcess, Lab } from './helpers.js';

/** One message of the run; `seq` is its place in its QoS level's sequence. */
export interface Outgoing {
  readonly seq: number;
  readonly qos: 1 | 2;
  readonly packetId: number;
  readonly topic: string;
  readonly payload: Buffer;
  sent: boolean;
  /** PUBACK (QoS 1) or PUBREC (QoS 2) received: the broker took responsibility for it. */
  acknowledged: boolean;
  /** PUBACK, or PUBCOMP for QoS 2: the exchange is over. */
  complete: boolean;
  /** Its PUBLISH was sent again after a crash. */
  resent: boolean;
}

export interface PublishPlan {
  readonly clientId: string;
  /** Messages per QoS level: `count` at QoS 1, then `count` at QoS 2. */
  readonly count: number;
  /** Topic prefix; QoS 1 goes to `${prefix}/q1`, QoS 2 to `${prefix}/q2`. */
  readonly prefix: string;
  /** Messages in flight at once. */
  readonly window: number;
  /**
   * When to kill: after `acks` acknowledgements (PUBACK + PUBREC + PUBCOMP received) plus `delayMs`,
   * so that the kill lands between commits, not just as acknowledgements arrive.
   */
  readonly kills: readonly { acks: number; delayMs: number }[];
  /** A stall of this long (no packet while messages are in flight) fails the run. */
  readonly stallMs?: number;
}

export interface PublishRun {
  /** The broker running at the end (after the last restart). */
  broker: BrokerProcess;
  readonly messages: Outgoing[];
  /** Kills actually performed. */
  crashes: number;
  /** Packets resent after reconnects (PUBLISH with DUP, or PUBREL). */
  resentPublishes: number;
  resentPubrels: number;
  /** Reason codes >= 0x80 or 0x10 (no matching subscribers) seen in acknowledgements. */
  readonly badReasonCodes: string[];
}

/** `q1:000042` — the payload names its QoS level and sequence number. */
export function payloadOf(qos: 1 | 2, seq: number): Buffer {
  return Buffer.from(`q${qos}:${String(seq).padStart(6, '0')}`);
}

/** Inverse of payloadOf. */
export function parsePayload(payload: Buffer | string): { qos: 1 | 2; seq: number } {
  const m = /^q([12]):(\d{6})$/.exec(payload.toString());
  if (!m) throw new Error(`unexpected payload ${JSON.stringify(payload.toString())}`);
  return { qos: Number(m[1]) as 1 | 2, seq: Number(m[2]) };
}

/** Runs the whole plan, restarting the broker after each kill; resolves when every exchange completed. */
export async function publishThroughCrashes(lab: Lab, first: BrokerProcess, plan: PublishPlan): Promise<PublishRun> {
  const messages: Outgoing[] = [];
  for (const qos of [1, 2] as const) {
    for (let seq = 0; seq < plan.count; seq++) {
      const packetId = (qos === 1 ? 0 : plan.count) + seq + 1; // distinct ids: never reused within the run
      messages.push({ seq, qos, packetId, topic: `${plan.prefix}/q${qos}`, payload: payloadOf(qos, seq), sent: false, acknowledged: false, complete: false, resent: false });
    }
  }
  if (messages.length >= 0xffff) throw new Error('plan too large for distinct packet ids');
  const run: PublishRun = { broker: first, messages, crashes: 0, resentPublishes: 0, resentPubrels: 0, badReasonCodes: [] };
  const kills = [...plan.kills].sort((a, b) => a.acks - b.acks);
  const state = { acks: 0 };
  const maxSessions = kills.length + 3; // every kill costs one reconnect; anything beyond is a failure
  for (let session = 0; session < maxSessions; session++) {
    const outcome = await publishOnce(lab, run, plan, kills, state, session > 0);
    if (outcome === 'done' && !run.broker.killedByTest) return run;
    if (!run.broker.killedByTest) {
      const exit = await Promise.race([run.broker.exited, new Promise((r) => setTimeout(r, 1000, 'still running'))]);
      throw new Error(`the broker closed the publisher's connection without being killed (${JSON.stringify(exit)}); stderr: ${run.broker.stderr}`);
    }
    await run.broker.exited;
    run.broker = await lab.restart(run.broker);
    if (outcome === 'done') return run; // the last acknowledgements arrived just before a kill
  }
  throw new Error(`publisher did not finish within ${maxSessions} connections`);
}

/** One connection: resend what is outstanding, then publish until done or until the connection drops. */
async function publishOnce(
  lab: Lab,
  run: PublishRun,
  plan: PublishPlan,
  kills: { acks: number; delayMs: number }[],
  state: { acks: number },
  resume: boolean,
): Promise<'done' | 'closed'> {
  const wire = await lab.wire(run.broker.port, 5);
  const connack = await wire.connect(plan.clientId, { clean: false, properties: { sessionExpiryInterval: 300 } });
  // The inbound QoS 2 ids live in the publisher's session: without it a resend would be delivered twice
  if (resume && !connack.sessionPresent) throw new Error('publisher session lost across the restart (CONNACK session present 0)');
  const byId = new Map(run.messages.map((m) => [m.packetId, m]));
  let inFlight = 0;
  let killing = false;
  for (const m of run.messages) {
    if (!m.sent || m.complete) continue;
    inFlight++;
    if (m.qos === 2 && m.acknowledged) {
      wire.send({ cmd: 'pubrel', messageId: m.packetId } as Packet);
      run.resentPubrels++;
    } else {
      wire.send(publishPacket(m, true));
      m.resent = true;
      run.resentPublishes++;
    }
  }
  let next = run.messages.findIndex((m) => !m.sent);
  if (next < 0) next = run.messages.length;
  const pump = () => {
    while (inFlight < plan.window && next < run.messages.length) {
      const m = run.messages[next++] as Outgoing;
      m.sent = true;
      inFlight++;
      wire.send(publishPacket(m, false));
    }
  };
  const stallMs = plan.stallMs ?? 5000;
  return new Promise<'done' | 'closed'>((resolve, reject) => {
    let stall = setTimeout(onStall, stallMs);
    function onStall(): void {
      reject(new Error(`publisher stalled: ${inFlight} in flight, ${run.messages.filter((m) => !m.complete).length} incomplete, no packet for ${stallMs} ms`));
      wire.close();
    }
    const finish = (outcome: 'done' | 'closed') => {
      clearTimeout(stall);
      wire.onPacket = undefined;
      resolve(outcome);
    };
    wire.onPacket = (packet) => {
      clearTimeout(stall);
      stall = setTimeout(onStall, stallMs);
      const m = packet.messageId === undefined ? undefined : byId.get(packet.messageId);
      const reason = (packet as { reasonCode?: number }).reasonCode ?? 0;
      if (!m || !['puback', 'pubrec', 'pubcomp'].includes(packet.cmd)) {
        clearTimeout(stall);
        reject(new Error(`publisher got an unexpected ${packet.cmd} ${JSON.stringify(packet)}`));
        return;
      }
      if (packet.cmd !== 'pubcomp' && reason !== 0) run.badReasonCodes.push(`${packet.cmd} ${m.packetId}: 0x${reason.toString(16)}`);
      if (packet.cmd === 'puback' && m.qos === 1 && !m.complete) {
        m.acknowledged = m.complete = true;
        inFlight--;
      } else if (packet.cmd === 'pubrec' && m.qos === 2 && !m.complete) {
        m.acknowledged = true;
        wire.send({ cmd: 'pubrel', messageId: m.packetId } as Packet);
      } else if (packet.cmd === 'pubcomp' && m.qos === 2 && m.acknowledged && !m.complete) {
        m.complete = true;
        inFlight--;
      } else {
        clearTimeout(stall);
        reject(new Error(`publisher got ${packet.cmd} for packet id ${m.packetId} in state ${JSON.stringify(m)}`));
        return;
      }
      state.acks++;
      const kill = kills[0];
      if (kill && state.acks >= kill.acks && !killing) {
        kills.shift();
        killing = true;
        run.crashes++;
        // The rest of this connection's packets are still read until it closes
        setTimeout(() => run.broker.kill(), kill.delayMs);
      }
      if (!run.broker.killedByTest) pump();
      if (run.messages.every((x) => x.complete)) finish('done');
    };
    void wire.closed.then(() => finish('closed'));
    pump();
  });
}

function publishPacket(m: Outgoing, dup: boolean): Packet {
  return { cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: false, dup, messageId: m.packetId } as Packet;
}
