/** Resuming at the start of a term: every unfinished saga of the store is driven again. */
import type { Logger } from "../log.js";
import type { MappedSaga, SagaDriver } from "./_driver.js";
import type { SagaLoops } from "./_loops.js";
import type { SagaPersistence } from "./_persistence.js";
import { parseOpen } from "./_records.js";
import type { SagaRunnerStats } from "./_types.js";

/** What {@link resume} needs from its runner. */
export interface ResumeOptions {
  sagas: ReadonlyMap<string, MappedSaga>;
  persistence: SagaPersistence;
  loops: SagaLoops;
  driver: SagaDriver;
  stats: SagaRunnerStats;
  log: Logger;
}

/**
 * Picks up every unfinished saga of the store: the open index names them all. A saga whose record
 * was never written (the leader died between the index and the record) is created from its entry.
 */
export async function resume({
  sagas,
  persistence,
  loops,
  driver,
  stats,
  log,
}: ResumeOptions): Promise<void> {
  const { open, records } = await persistence.readOpen();
  const ids = Object.keys(open);
  const drive = (r: Parameters<SagaDriver["drive"]>[0]) => driver.drive(r);
  for (const id of ids) {
    const entry = parseOpen(open[id]);
    const r = records.get(id);
    const saga = r?.saga ?? entry?.saga;
    const mapped = saga === undefined ? undefined : sagas.get(saga);
    if (saga === undefined || mapped === undefined || (r === undefined && entry === undefined)) {
      log.error("unfinished saga of an unknown kind; left in the store", { sagaId: id, saga });
      continue;
    }
    stats.resumed++;
    const started =
      r !== undefined
        ? Promise.resolve(r)
        : persistence.create(id, saga, mapped.def, entry!, { indexed: true });
    loops.launch(id, saga, started, drive);
  }
  if (ids.length > 0) log.info("resumed unfinished sagas", { count: stats.resumed });
}
