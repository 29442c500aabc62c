/**
 * `exclusive-consumer/testing`: contract suites for adapters, a history checker for engines and
 * deployments, and the embedded broker's faults for testing handlers.
 *
 * @module exclusive-consumer/testing
 */
export { registerContract, uniqueName } from './contract.js';
export type { ContractCase, TestRegistrar } from './contract.js';
export { lockContract } from './lock-contract.js';
export type { LockContractOptions } from './lock-contract.js';
export { tokenSourceContract } from './token-source-contract.js';
export type { TokenSourceContractOptions } from './token-source-contract.js';
export { fencedStoreContract } from './fenced-store-contract.js';
export type { FencedStoreContractOptions } from './fenced-store-contract.js';
export { outboxContract } from './outbox-contract.js';
export type { OutboxContractOptions } from './outbox-contract.js';
export { counterStoreContract } from './counter-store-contract.js';
export type { CounterStoreContractOptions } from './counter-store-contract.js';
export { transportContract } from './transport-contract.js';
export type { TransportContractOptions } from './transport-contract.js';
export { HistoryRecorder, WALL_CLOCK, checkHistory, monotonicClockId, monotonicMicros, wallClockMicros } from './history.js';
export { checkRunLog, checkRuns, checkSpans, parseRunLog, parseSpans } from './deployment-check.js';
export type { DeploymentCheckOptions, DeploymentReport, ParseSpansOptions, ParsedRuns } from './deployment-check.js';
export type {
  CheckHistoryOptions,
  HistoryRecorderOptions,
  HistoryReport,
  OrderViolation,
  Overlap,
  PublishedEvent,
  RunRecord,
} from './history.js';
export { brokerFaults } from '../transports/memory/faults.js';
export type {
  BrokerFaults,
  BrokerFaultsOptions,
  ConsumerSelector,
  FaultTarget,
  LoseAcksOptions,
  LostAcks,
  ReconnectOptions,
  RestartOptions,
} from '../transports/memory/faults.js';
