/** The handler module must fit the wiring: checked once, before anything is subscribed. */

import { own } from "../_own.js";
import type { ServiceDefinition } from "../api.js";
import { CatgaError } from "../errors.js";
import type { Wiring, WiringService } from "../wiring.js";

/** The definition does not match the wiring: a handler is missing or unexpected. */
export class DefinitionMismatchError extends CatgaError {
  override name = "DefinitionMismatchError";
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`the handlers of service '${service}' do not match its wiring:\n  ${problems.join("\n  ")}`, {
      code: "DEFINITION_MISMATCH",
    });
  }
}

/**
 * The wiring of `service`, after checking that every handler the wiring routes to exists and that
 * the definition is for this service.
 *
 * @throws DefinitionMismatchError when the wiring has no such service or the definition does not fit.
 */
export function checkedService(wiring: Wiring, service: string, def: ServiceDefinition): WiringService {
  const ws = own(wiring.services, service);
  if (ws === undefined) {
    throw new DefinitionMismatchError(service, [
      `the wiring has no service '${service}'; it has ${Object.keys(wiring.services).join(", ")}`,
    ]);
  }
  const problems: string[] = [];
  if (def.topology !== wiring.topology || def.service !== service) {
    problems.push(
      `the module defines service '${def.topology}.${def.service}', not '${wiring.topology}.${service}'`,
    );
  }
  for (const h of ws.handles) {
    if (h.saga !== undefined) continue;
    if (own(def.handlers, h.message) === undefined) problems.push(`no handler for ${h.message}`);
  }
  for (const s of ws.subscriptions) {
    const isSagaTrigger = ws.sagas.some((g) => wiring.sagas[g]?.trigger.name === s.event);
    if (own(def.events, s.event) === undefined && !isSagaTrigger)
      problems.push(`no event handler for ${s.event}`);
  }
  for (const j of ws.schedules) if (def.jobs[j.job] === undefined) problems.push(`no job '${j.job}'`);
  for (const g of ws.sagas) if (def.sagas[g] === undefined) problems.push(`no mapping for saga ${g}`);
  if (problems.length > 0) throw new DefinitionMismatchError(service, problems);
  return ws;
}
