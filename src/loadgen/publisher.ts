import type { BenchClient, QoS } from './client.js';
import { encodePayload } from './payload.js';

/** How one flow-controlled publisher behaves. */
export interface PublisherConfig {
  index: number;
  qos: QoS;
  topic: string;
  payloadSize: number;
  /** Most QoS 1/2 publishes awaiting PUBACK/PUBCOMP at once. */
  ackWindow: number;
  /** Most messages sent but not yet delivered to every subscriber. */
  deliveryWindow: number;
  /** Deliveries each message should produce (the number of matching subscribers). */
  fanout: number;
}

/** Messages written in one synchronous burst before yielding to the event loop. */
const BURST = 256;
/** Stall checks without any delivery before the missing deliveries are written off. */
const STALL_TICKS = 10;

/**
 * Publishes numbered messages as fast as the broker sustains them: it stops when the socket
 * buffer is full, when the ack window is full, or when too many messages are still on their
 * way to the subscribers, and resumes once half of the window has cleared.
 */
export class FlowPublisher {
  readonly #client: BenchClient;
  readonly #config: PublisherConfig;
  readonly #topic: Buffer;
  /** Undelivered count at which a publisher held back by its delivery window resumes. */
  readonly #resumeAt: number;
  #sent = 0;
  #delivered = 0;
  #writtenOff = 0;
  #running = false;
  #draining = false;
  #scheduled = false;
  #lastTickDelivered = 0;
  #idleTicks = 0;
  #stalls = 0;

  /** Wires the publisher to `client`'s ack and drain callbacks. */
  constructor(client: BenchClient, config: PublisherConfig) {
    this.#client = client;
    this.#config = config;
    this.#topic = Buffer.from(config.topic);
    this.#resumeAt = Math.floor((config.deliveryWindow * config.fanout) / 2);
    client.setHandlers({
      onComplete: () => {
        if (client.outstanding <= config.ackWindow / 2) this.pump();
      },
      onDrain: () => {
        this.#draining = false;
        this.pump();
      },
    });
  }

  /** Messages written so far; their sequence numbers are 0 … sent-1. */
  get sent(): number {
    return this.#sent;
  }

  /** Times the delivery window was written off because nothing arrived. */
  get stalls(): number {
    return this.#stalls;
  }

  /** Starts publishing. */
  start(): void {
    this.#running = true;
    this.pump();
  }

  /** Stops publishing; messages already written stay in flight. */
  stop(): void {
    this.#running = false;
  }

  /** Tells the publisher one of its messages reached a subscriber. */
  noteDelivery(): void {
    this.#delivered++;
    if (this.#undelivered() === this.#resumeAt) this.pump();
  }

  /** Called periodically: if deliveries stopped while the window is full, write them off and go on. */
  tick(): void {
    if (this.#delivered !== this.#lastTickDelivered || !this.#running || this.#windowOpen()) {
      this.#lastTickDelivered = this.#delivered;
      this.#idleTicks = 0;
      return;
    }
    if (++this.#idleTicks < STALL_TICKS) return;
    this.#idleTicks = 0;
    this.#stalls++;
    this.#writtenOff += this.#undelivered();
    this.pump();
  }

  /** Writes messages while every window allows, at most one burst per event-loop turn. */
  pump(): void {
    if (!this.#canSend()) return;
    const { index, qos, payloadSize } = this.#config;
    this.#client.cork();
    for (let i = 0; i < BURST && this.#canSend(); i++) {
      const payload = encodePayload(payloadSize, index, this.#sent);
      this.#sent++;
      if (!this.#client.publish(this.#topic, payload, qos)) this.#draining = true;
    }
    this.#client.uncork();
    if (this.#canSend() && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.pump();
      });
    }
  }

  #undelivered(): number {
    return this.#sent * this.#config.fanout - this.#delivered - this.#writtenOff;
  }

  #windowOpen(): boolean {
    const { qos, ackWindow, deliveryWindow, fanout } = this.#config;
    if (qos !== 0 && this.#client.outstanding >= ackWindow) return false;
    return this.#undelivered() < deliveryWindow * fanout;
  }

  #canSend(): boolean {
    return this.#running && !this.#draining && this.#client.connected && this.#windowOpen();
  }
}
