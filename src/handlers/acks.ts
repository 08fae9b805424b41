import type { PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket } from '../protocol/codec.js';
import { ACK_SIZE, pubcompPacket, pubrelPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AcceptedConnection } from '../connection/connection.js';
import { sendAfterCommit } from './commit.js';
import type { BrokerContext } from './context.js';

const UNKNOWN_ID = 'no QoS 2 exchange with this packet identifier';

/** PUBACK from a client: ends a QoS 1 delivery [MQTT-4.3.2]. */
export function handlePuback(ctx: BrokerContext, conn: AcceptedConnection, packet: PubackPacket): void {
  if (!conn.session.acknowledge(packet.messageId as number, (packet.reasonCode ?? 0) >= 0x80)) {
    ctx.logger.debug({ clientId: conn.clientId, packetId: packet.messageId }, 'PUBACK for unknown packet id');
  }
}

/** PUBREC from a client: answer PUBREL [MQTT-4.3.3-4]; an unknown id gets PUBREL 0x92 in MQTT 5. */
export function handlePubrec(ctx: BrokerContext, conn: AcceptedConnection, packet: PubrecPacket): void {
  const id = packet.messageId as number;
  const failed = (packet.reasonCode ?? 0) >= 0x80;
  if (conn.session.received(id, failed)) return;
  ctx.logger.debug({ clientId: conn.clientId, packetId: id }, 'PUBREC for unknown packet id');
  if (!failed) conn.send(pubrelPacket(id, ReasonCode.PacketIdentifierNotFound, conn.problem(UNKNOWN_ID, ACK_SIZE)));
}

/** PUBREL from a client: release the inbound QoS 2 id and answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(ctx: BrokerContext, conn: AcceptedConnection, packet: PubrelPacket): void {
  const id = packet.messageId as number;
  const known = conn.session.releaseInbound(id) ?? false;
  // PUBCOMP goes out once the release is committed
  const ack = known ? pubcompPacket(id, ReasonCode.Success) : pubcompPacket(id, ReasonCode.PacketIdentifierNotFound, conn.problem(UNKNOWN_ID, ACK_SIZE));
  sendAfterCommit(ctx, conn, ack);
}

/** PUBCOMP from a client: ends a QoS 2 delivery [MQTT-4.3.3]. */
export function handlePubcomp(ctx: BrokerContext, conn: AcceptedConnection, packet: PubcompPacket): void {
  if (!conn.session.completed(packet.messageId as number)) {
    ctx.logger.debug({ clientId: conn.clientId, packetId: packet.messageId }, 'PUBCOMP for unknown packet id');
  }
}
