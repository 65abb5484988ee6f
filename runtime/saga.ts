/**
 * Sagas, from their usual import path: see ./saga/index.ts for what the runner guarantees and how
 * its parts fit together.
 */
export {
  type SagaCounts,
  type SagaErrorRecord,
  type SagaRecord,
  type SagaRetryPolicy,
  type SagaRunner,
  type SagaRunnerOptions,
  type SagaRunnerStats,
  type SagaStarted,
  type SagaStatus,
  type SagaStatusEntry,
  type SagaStatusReport,
  sagaId,
  sagaKeys,
  sagaStatus,
  startSagaRunner,
  stepKey,
} from "./saga/index.js";
