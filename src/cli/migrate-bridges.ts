/**
 * `midge migrate`: Mosquitto bridges (`connection` blocks) as Midge `bridges` (src/mqtt-bridge).
 * Each block starts at `connection NAME`; the bridge directives after it belong to it.
 */

/** One directive of the file, as src/cli/migrate.ts parses it. */
export interface BridgeDirective {
  readonly name: string;
  readonly args: readonly string[];
  readonly at: string;
  readonly text: string;
}

/** A Midge bridge being built from one `connection` block. */
interface Block {
  readonly at: string;
  readonly bridge: Record<string, unknown> & { name: string; topics: Record<string, unknown>[] };
  readonly addresses: string[];
  tls: boolean;
}

/** Bridge directives Midge has no equivalent of, with the reason. */
const UNSUPPORTED: Record<string, string> = {
  notifications: 'Midge reports bridge state in $SYS/broker/connection/<name>/state and $SYS/broker/bridges/, not on a notification topic',
  notifications_local_only: 'no notification topic (see notifications)',
  notification_topic: 'no notification topic (see notifications)',
  start_type: 'Midge bridges always start with the broker and reconnect by themselves',
  idle_timeout: 'Midge bridges always start with the broker and reconnect by themselves',
  threshold: 'Midge bridges always start with the broker and reconnect by themselves',
  round_robin: 'Midge tries the addresses in turn after each failure and comes back to the first when it reconnects',
  local_clientid: 'the local side of a Midge bridge is the session $bridge/<name>, not a client',
  local_password: 'the local side of a Midge bridge is inside the broker: its localUsername needs no password',
  bridge_attempt_unsubscribe: 'Midge keeps its subscriptions on the remote for its persistent session',
  bridge_outgoing_retain: 'Midge forwards the retained flag as it is',
  bridge_max_packet_size: 'the remote announces its Maximum Packet Size (MQTT 5)',
  bridge_bind_address: 'Midge lets the operating system pick the local address',
  bridge_identity: 'TLS-PSK is not supported; use certificates',
  bridge_psk: 'TLS-PSK is not supported; use certificates',
  bridge_alpn: 'ALPN is not configurable',
  bridge_tls_version: "Midge uses Node.js's TLS defaults (TLS 1.2 and 1.3)",
  bridge_require_ocsp: 'OCSP is not checked',
  bridge_capath: 'give one CA file (bridge_cafile)',
};

/** `true`/`false`, or undefined. */
function flag(d: BridgeDirective): boolean | undefined {
  return d.args[0] === 'true' ? true : d.args[0] === 'false' ? false : undefined;
}

/** Mosquitto writes an empty prefix as `""`. */
function unquote(arg: string | undefined): string | undefined {
  if (arg === undefined) return undefined;
  return arg === '""' ? '' : arg;
}

/** Translates the `connection` blocks of a Mosquitto configuration. */
export class BridgeTranslator {
  readonly #blocks: Block[] = [];
  readonly #skip: (d: BridgeDirective, why: string) => void;

  constructor(skip: (d: BridgeDirective, why: string) => void) {
    this.#skip = skip;
  }

  /** Takes one bridge directive. */
  add(d: BridgeDirective): void {
    if (d.name === 'connection') {
      const name = d.args[0];
      if (name === undefined || !/^[A-Za-z0-9_.-]+$/.test(name)) return this.#skip(d, 'expected a bridge name of letters, digits, _ . -');
      this.#blocks.push({ at: d.at, bridge: { name, topics: [] }, addresses: [], tls: false });
      return;
    }
    const block = this.#blocks[this.#blocks.length - 1];
    if (block === undefined) return this.#skip(d, 'a bridge directive before any "connection" line');
    this.#apply(block, d);
  }

  #apply(block: Block, d: BridgeDirective): void {
    const { bridge } = block;
    const arg = d.args[0];
    switch (d.name) {
      case 'address':
      case 'addresses':
        for (const a of d.args) block.addresses.push(a);
        return;
      case 'topic':
        return this.#topic(block, d);
      case 'remote_clientid':
      case 'clientid':
        bridge.clientId = arg;
        return;
      case 'remote_username':
        bridge.username = arg;
        return;
      case 'local_username':
        bridge.localUsername = arg;
        return;
      case 'remote_password':
        bridge.password = d.args.join(' ');
        return;
      case 'bridge_protocol_version':
        if (arg === 'mqttv311') bridge.protocolVersion = 4;
        else if (arg === 'mqttv50') bridge.protocolVersion = 5;
        else this.#skip(d, 'Midge bridges speak MQTT 3.1.1 (mqttv311) or 5.0 (mqttv50)');
        return;
      case 'cleansession':
        if (flag(d) === undefined) return this.#skip(d, 'expected true or false');
        bridge.cleanStart = flag(d);
        return;
      case 'try_private':
        if (flag(d) === undefined) return this.#skip(d, 'expected true or false');
        bridge.bridgeBit = flag(d);
        return;
      case 'keepalive_interval':
        if (!/^\d+$/.test(arg ?? '')) return this.#skip(d, 'expected seconds');
        bridge.keepalive = Number(arg);
        return;
      case 'restart_timeout':
        return this.#restart(bridge, d);
      case 'bridge_cafile':
        block.tls = true;
        bridge.ca = d.args.join(' ');
        return;
      case 'bridge_certfile':
        block.tls = true;
        bridge.cert = d.args.join(' ');
        return;
      case 'bridge_keyfile':
        block.tls = true;
        bridge.key = d.args.join(' ');
        return;
      case 'bridge_insecure':
        if (flag(d) === true) bridge.rejectUnauthorized = false;
        return;
      default:
        this.#skip(d, UNSUPPORTED[d.name] ?? 'a bridge directive midge migrate does not know');
    }
  }

  /** `topic pattern [out|in|both [qos [local-prefix remote-prefix]]]`. */
  #topic(block: Block, d: BridgeDirective): void {
    const [pattern, direction = 'out', qos = '0', local, remote] = d.args;
    if (pattern === undefined) return this.#skip(d, 'expected a topic pattern');
    if (!['out', 'in', 'both'].includes(direction)) return this.#skip(d, 'expected out, in or both');
    if (!['0', '1', '2'].includes(qos)) return this.#skip(d, 'expected QoS 0, 1 or 2');
    const rule: Record<string, unknown> = { filter: unquote(pattern), direction, qos: Number(qos) };
    const localPrefix = unquote(local);
    const remotePrefix = unquote(remote);
    if (localPrefix) rule.localPrefix = localPrefix;
    if (remotePrefix) rule.remotePrefix = remotePrefix;
    block.bridge.topics.push(rule);
  }

  /** `restart_timeout base [cap]`: a constant delay, or Mosquitto's backoff from base up to cap (seconds). */
  #restart(bridge: Record<string, unknown>, d: BridgeDirective): void {
    const [base, cap] = d.args.map(Number);
    if (base === undefined || !Number.isInteger(base) || base < 1 || (cap !== undefined && (!Number.isInteger(cap) || cap < base))) {
      return this.#skip(d, 'expected restart_timeout SECONDS or restart_timeout BASE CAP');
    }
    bridge.reconnectDelay = base * 1000;
    bridge.reconnectDelayMax = (cap ?? base) * 1000;
  }

  /** The bridges (an address without a port is on 1883, as in Mosquitto); a block without an address is reported and left out. */
  bridges(missing: (at: string, why: string) => void): { bridges: Record<string, unknown>[]; from: string } | undefined {
    const out: Record<string, unknown>[] = [];
    for (const block of this.#blocks) {
      if (block.addresses.length === 0) {
        missing(block.at, `bridge ${block.bridge.name} has no address`);
        continue;
      }
      const scheme = block.tls ? 'mqtts' : 'mqtt';
      const urls = block.addresses.map((a) => `${scheme}://${a.includes(':') ? a : `${a}:1883`}`);
      const { name, ...rest } = block.bridge;
      out.push({ name, url: urls.length === 1 ? urls[0] : urls, ...rest });
    }
    if (out.length === 0) return undefined;
    return { bridges: out, from: this.#blocks.map((b) => `${b.at} connection ${b.bridge.name}`).join(', ') };
  }
}
