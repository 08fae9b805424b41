import type { LogRecord } from '../record.js';

/**
 * One external engine. `send` ships a batch in order and resolves once the engine has acknowledged
 * every record; it throws if any was not. A batch may be sent again after a failure or a restart,
 * so drivers pass the record's `stream:offset` id to the engine to refuse the duplicates it can.
 */
export interface SinkDriver {
  /** What the logs call the engine, e.g. "nats nats://127.0.0.1:4222 subject data". */
  readonly description: string;
  /** Connects, and creates or verifies what the engine needs; throws when unreachable. */
  connect(): Promise<void>;
  send(records: readonly LogRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Record metadata as string headers (NATS and Kafka). */
export function metadataHeaders(record: LogRecord): Record<string, string> {
  const headers: Record<string, string> = {
    'midge-id': `${record.stream}:${record.offset}`,
    'mqtt-topic': record.topic,
    'mqtt-qos': String(record.qos),
    'mqtt-retain': record.retain ? '1' : '0',
    'midge-timestamp': String(record.timestamp),
  };
  const p = record.properties;
  if (p?.contentType !== undefined) headers['mqtt-content-type'] = p.contentType;
  if (p?.responseTopic !== undefined) headers['mqtt-response-topic'] = p.responseTopic;
  if (p?.correlationData !== undefined) headers['mqtt-correlation-data'] = p.correlationData.toString('base64');
  if (p?.payloadFormatIndicator !== undefined) headers['mqtt-payload-format'] = p.payloadFormatIndicator ? '1' : '0';
  if (p?.userProperties !== undefined) headers['mqtt-user-properties'] = JSON.stringify(p.userProperties);
  return headers;
}
