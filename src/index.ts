/** Midge: an MQTT 3.1 / 3.1.1 / 5.0 broker. Public API. */
export { Broker, createBroker, type ListenAddresses, type SessionInfo } from './broker.js';
export { LevelStore, type Durability, type CommitStats } from './store/level.js';
export { BrokerError, ErrorCode, isBrokerError, type ErrorCodeName } from './errors.js';
export type { BrokerOptions } from './options.js';
export { DEFAULTS } from './options.js';
export type { AuthExchange, AuthResult, AuthVerdict, ClientInfo, Credentials, Drop, DropReason, Plugin, SubscriptionRequestInfo, UserProperties } from './hooks.js';
export { formatScramLine, scramCredential, scramSha256, scramUsersFile, SCRAM_SHA_256, type ScramCredential, type ScramUserLookup } from './auth/scram.js';
export type { Message, MessageProperties, PublishInput } from './broker/message.js';
export type { Store, StoredState, SessionRecord, WillRecord } from './store/store.js';
export { MemoryStore } from './store/memory.js';
export { ReasonCode } from './protocol/reason-codes.js';
export { loadConfig, type ConfigSources } from './config/load.js';
export { Metrics } from './metrics/metrics.js';
export type { BridgeOptions, StreamOptions, RuleOptions, SinkOptions, NatsSinkOptions, RedisSinkOptions, KafkaSinkOptions, BridgeOverflow } from './bridge/config.js';
export type { Bridge, BridgeStatus } from './bridge/bridge.js';
export type { Log, StreamStat, ReadOptions, FollowOptions } from './bridge/log.js';
export type { LogRecord } from './bridge/record.js';
export type { SinkStatus } from './bridge/sink-runner.js';
