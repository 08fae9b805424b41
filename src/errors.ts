import { ReasonCode } from './protocol/reason-codes.js';

/** Stable error codes raised by Midge; each maps to one MQTT reason code where one applies. */
export const ErrorCode = {
  ERR_MALFORMED_PACKET: { reason: ReasonCode.MalformedPacket, text: 'malformed packet' },
  ERR_PROTOCOL: { reason: ReasonCode.ProtocolError, text: 'protocol error' },
  ERR_UNSUPPORTED_PROTOCOL: { reason: ReasonCode.UnsupportedProtocolVersion, text: 'unsupported protocol version' },
  ERR_CLIENT_ID_INVALID: { reason: ReasonCode.ClientIdentifierNotValid, text: 'client identifier not valid' },
  ERR_BAD_CREDENTIALS: { reason: ReasonCode.BadUserNameOrPassword, text: 'bad user name or password' },
  ERR_NOT_AUTHORIZED: { reason: ReasonCode.NotAuthorized, text: 'not authorized' },
  ERR_SERVER_UNAVAILABLE: { reason: ReasonCode.ServerUnavailable, text: 'server unavailable' },
  ERR_KEEPALIVE_TIMEOUT: { reason: ReasonCode.KeepAliveTimeout, text: 'keep alive timeout' },
  ERR_SESSION_TAKEN_OVER: { reason: ReasonCode.SessionTakenOver, text: 'session taken over' },
  ERR_SHUTTING_DOWN: { reason: ReasonCode.ServerShuttingDown, text: 'server shutting down' },
  ERR_TOPIC_NAME_INVALID: { reason: ReasonCode.TopicNameInvalid, text: 'topic name invalid' },
  ERR_RECEIVE_MAXIMUM_EXCEEDED: { reason: ReasonCode.ReceiveMaximumExceeded, text: 'receive maximum exceeded' },
  ERR_TOPIC_ALIAS_INVALID: { reason: ReasonCode.TopicAliasInvalid, text: 'topic alias invalid' },
  ERR_PACKET_TOO_LARGE: { reason: ReasonCode.PacketTooLarge, text: 'packet too large' },
  ERR_QOS_NOT_SUPPORTED: { reason: ReasonCode.QoSNotSupported, text: 'QoS not supported' },
  ERR_PAYLOAD_FORMAT_INVALID: { reason: ReasonCode.PayloadFormatInvalid, text: 'payload format invalid' },
  ERR_BAD_AUTH_METHOD: { reason: ReasonCode.BadAuthenticationMethod, text: 'bad authentication method' },
  ERR_AUTH_FAILED: { reason: ReasonCode.NotAuthorized, text: 'authentication failed' },
  ERR_AUTH_EXPIRED: { reason: ReasonCode.MaximumConnectTime, text: 'authentication expired' },
  ERR_REDIRECTED: { reason: ReasonCode.UseAnotherServer, text: 'use another server' },
  ERR_CONNECT_TIMEOUT: { reason: ReasonCode.ServerUnavailable, text: 'connection not established in time' },
  ERR_INVALID_MESSAGE: { reason: ReasonCode.ImplementationSpecificError, text: 'message cannot be encoded' },
  ERR_STORE_OPEN: { reason: ReasonCode.ServerUnavailable, text: 'cannot open the store' },
  ERR_STORE_FORMAT: { reason: ReasonCode.ServerUnavailable, text: 'unsupported store format' },
  ERR_STORE_WRITE: { reason: ReasonCode.UnspecifiedError, text: 'store write failed' },
  ERR_INVALID_OPTION: { reason: ReasonCode.ImplementationSpecificError, text: 'invalid option' },
  ERR_LISTEN: { reason: ReasonCode.ImplementationSpecificError, text: 'cannot listen' },
  ERR_INTERNAL: { reason: ReasonCode.UnspecifiedError, text: 'internal error' },
  ERR_TLS_CONFIG: { reason: ReasonCode.ImplementationSpecificError, text: 'invalid TLS configuration' },
  ERR_SECURITY_FILE: { reason: ReasonCode.ImplementationSpecificError, text: 'invalid security file' },
  ERR_CLIENT_ID_TOO_LONG: { reason: ReasonCode.ClientIdentifierNotValid, text: 'client identifier too long' },
  ERR_TOPIC_LIMIT: { reason: ReasonCode.TopicNameInvalid, text: 'topic exceeds the length or level limit' },
  ERR_SLOW_CONSUMER: { reason: ReasonCode.ImplementationSpecificError, text: 'client stopped reading' },
  ERR_NOT_STARTED: { reason: ReasonCode.ServerUnavailable, text: 'broker not started' },
  ERR_ADMIN_DISCONNECT: { reason: ReasonCode.AdministrativeAction, text: 'disconnected by an administrator' },
  // Bridge and log store (src/bridge/)
  ERR_LOG_STREAM_UNKNOWN: { reason: ReasonCode.ImplementationSpecificError, text: 'unknown log stream' },
  ERR_LOG_READ: { reason: ReasonCode.UnspecifiedError, text: 'cannot read the log' },
  ERR_LOG_CLOSED: { reason: ReasonCode.ServerUnavailable, text: 'the log is closed' },
  ERR_SINK: { reason: ReasonCode.UnspecifiedError, text: 'sink failed' },
  // Cluster mode (src/cluster/)
  ERR_CLUSTER_NODE_ID_IN_USE: { reason: ReasonCode.ImplementationSpecificError, text: 'node id in use' },
  ERR_CLUSTER_FENCED: { reason: ReasonCode.ServerUnavailable, text: 'fenced out of the cluster' },
  ERR_CLUSTER_UNAVAILABLE: { reason: ReasonCode.ServerUnavailable, text: 'cluster engine unavailable' },
  ERR_CLUSTER_SESSION_BUSY: { reason: ReasonCode.ServerBusy, text: 'session being taken over by another node' },
} as const;

/** One of the registered error codes. */
export type ErrorCodeName = keyof typeof ErrorCode;

/** The error every part of Midge throws: a stable code plus, where it applies, an MQTT reason code. */
export class BrokerError extends Error {
  readonly code: ErrorCodeName;
  readonly reasonCode: number;
  /** Sent as the Reason String instead of the message (e.g. one a plugin chose). */
  readonly reasonString: string | undefined;
  /** MQTT 5 Server Reference, with 0x9C / 0x9D [MQTT-4.11]. */
  readonly serverReference: string | undefined;

  constructor(code: ErrorCodeName, detail?: string, options?: BrokerErrorOptions) {
    const entry = ErrorCode[code];
    super(detail ? `${entry.text}: ${detail}` : entry.text, options);
    this.name = 'BrokerError';
    this.code = code;
    this.reasonCode = options?.reasonCode ?? entry.reason;
    this.reasonString = options?.reasonString;
    this.serverReference = options?.serverReference;
  }
}

/** Optional details of a BrokerError. */
export interface BrokerErrorOptions {
  readonly cause?: unknown;
  /** Overrides the code's reason code (a plugin may choose one). */
  readonly reasonCode?: number | undefined;
  readonly reasonString?: string | undefined;
  readonly serverReference?: string | undefined;
}

/** True when `err` is a BrokerError (optionally with the given code). */
export function isBrokerError(err: unknown, code?: ErrorCodeName): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
