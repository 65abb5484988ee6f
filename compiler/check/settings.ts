import {
  type BlockItem,
  type Diagnostic,
  diagnostic,
  type InfraDecl,
  type ServiceDecl,
  type Setting,
  type Span,
  type TimeoutItem,
} from "../../dsl/index.js";
import type { NatsModel, RedisModel, ResourcesModel } from "../model.js";
import { suggest } from "./_text.js";
import {
  checkKeys,
  duplicateKey,
  durationValue,
  intValue,
  invalidValue,
  isPlaceholder,
  stringValue,
  wordValue,
} from "./_values.js";
import { STREAM_KEYS, suggestStreamKey } from "./durable.js";

const NATS_KEYS = ["nodes", "url", ...STREAM_KEYS] as const;
const REDIS_KEYS = ["mode", "nodes", "url", "master"] as const;
const REDIS_MODES = ["standalone", "sentinel", "cluster"] as const;
const SERVICE_KEYS = ["mode", "replicas", "lease", "image", "port", "handler"] as const;
const SERVICE_MODES = ["p2p", "leader"] as const;
const RESOURCE_KEYS = ["cpu", "memory"] as const;
/** Keywords of service items: a misspelt `handle X` parses as a setting and should suggest `handles`. */
const SERVICE_KEYWORDS = ["handles", "on", "emits", "sends", "runs", "every", "timeout", "env", "resources"];

/** Fewest Redis nodes per mode, and why: the hint of C2008. */
const REDIS_MIN_NODES: Record<(typeof REDIS_MODES)[number], { nodes: number; why: string }> = {
  standalone: { nodes: 1, why: "" },
  sentinel: {
    nodes: 3,
    why: "sentinels promote a replica by majority vote; with fewer than 3 nodes, losing one leaves no majority",
  },
  cluster: { nodes: 6, why: "a Redis Cluster needs 3 primaries, each with a replica to fail over to" },
};

/** Lease bounds (C3007): shorter leases flap on a GC pause; longer ones leave a dead leader in place for minutes. */
export const LEASE_MIN_MS = 1_000;
export const LEASE_MAX_MS = 5 * 60_000;
/** Default lease TTL in leader mode. */
export const DEFAULT_LEASE_MS = 10_000;
/** Longest handler timeout (C3008): beyond an hour a request/reply is the wrong tool. */
export const TIMEOUT_MAX_MS = 60 * 60_000;

/** CPU as Kubernetes writes it: cores ("1", "0.5") or millicores ("500m"). */
const CPU_QUANTITY = /^(\d+(\.\d+)?|\d+m)$/;
/** Memory as Kubernetes writes it: bytes with an optional decimal or binary suffix. */
const MEMORY_QUANTITY = /^\d+(\.\d+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
/** NATS queue group names: no spaces, no wildcards. */
const QUEUE_NAME = /^[A-Za-z0-9_.-]+$/;

/** The resolved `nats` and `redis` blocks. */
export interface InfraFacts {
  nats: NatsModel;
  redis: RedisModel;
  /** Stream settings of the `nats` block (defaults of durable events), by key: checked later. */
  streamDefaults: Map<string, Setting>;
}

/**
 * Checks the `nats` and `redis` blocks: known keys (C2007), each once (C2004), values of the right
 * kind and range (C2008). Returns them with their defaults applied. The stream settings of the
 * `nats` block are only collected here; `checkDurable` checks their values.
 */
export function checkInfra(
  nats: InfraDecl | undefined,
  redis: InfraDecl | undefined,
  out: Diagnostic[],
): InfraFacts {
  const natsModel: NatsModel = { nodes: 1 };
  const streamDefaults = new Map<string, Setting>();
  if (nats) {
    const found = checkKeys(nats.settings, NATS_KEYS, "'nats'", out, (s) =>
      suggestStreamKey(s.key.text, ["nodes", "url"]),
    );
    for (const key of STREAM_KEYS) {
      const setting = found.get(key);
      if (setting) streamDefaults.set(key, setting);
    }
    const nodes = found.get("nodes");
    if (nodes) {
      const n = intValue(nodes, out);
      if (n !== undefined && n < 1)
        out.push(invalidValue(nodes, "'nodes' must be at least 1", "write 'nodes 1' or more"));
      else if (n !== undefined) natsModel.nodes = n;
    }
    const url = found.get("url");
    if (url) {
      const u = urlValue(url, ["nats://", "tls://"], out);
      if (u !== undefined) natsModel.url = u;
    }
  }

  const redisModel: RedisModel = { mode: "standalone", nodes: 1 };
  if (redis) {
    const found = checkKeys(redis.settings, REDIS_KEYS, "'redis'", out);
    const modeSetting = found.get("mode");
    const mode = modeSetting ? wordValue(modeSetting, REDIS_MODES, out) : "standalone";
    if (mode !== undefined) {
      redisModel.mode = mode;
      redisModel.nodes = REDIS_MIN_NODES[mode].nodes;
    }
    const nodesSetting = found.get("nodes");
    if (nodesSetting) {
      const n = intValue(nodesSetting, out);
      if (n !== undefined) {
        redisModel.nodes = n;
        if (n < 1)
          out.push(invalidValue(nodesSetting, "'nodes' must be at least 1", "write 'nodes 1' or more"));
        else if (mode === "standalone" && n > 1) {
          out.push(
            invalidValue(
              nodesSetting,
              `standalone Redis runs one node, not ${n}`,
              "use 'mode sentinel' for a primary with replicas, or 'mode cluster' to shard",
            ),
          );
        } else if (mode !== undefined && n < REDIS_MIN_NODES[mode].nodes) {
          const min = REDIS_MIN_NODES[mode];
          out.push(
            invalidValue(
              nodesSetting,
              `Redis ${mode} needs at least ${min.nodes} nodes, not ${n}`,
              `${min.why}: write 'nodes ${min.nodes}'`,
            ),
          );
        }
      }
    }
    const url = found.get("url");
    if (url) {
      const u = urlValue(url, ["redis://", "rediss://"], out);
      if (u !== undefined) redisModel.url = u;
    }
    const master = found.get("master");
    if (master) {
      const m = stringValue(master, out);
      if (m !== undefined && mode !== undefined && mode !== "sentinel") {
        out.push(
          invalidValue(
            master,
            `'master' names the primary watched by sentinels; it has no meaning in ${mode} mode`,
            "remove it, or write 'mode sentinel'",
          ),
        );
      } else if (m === "") {
        out.push(invalidValue(master, "'master' cannot be empty", 'name the primary, e.g. master "catga"'));
      } else if (m !== undefined) redisModel.master = m;
    }
  }
  return { nats: natsModel, redis: redisModel, streamDefaults };
}

function urlValue(setting: Setting, schemes: readonly string[], out: Diagnostic[]): string | undefined {
  const url = stringValue(setting, out);
  if (url === undefined) return undefined;
  const parts = url.split(",").map((p) => p.trim());
  if (parts.every((p) => schemes.some((s) => p.startsWith(s) && p.length > s.length))) return url;
  out.push(
    invalidValue(
      setting,
      `'${url}' is not a valid URL here`,
      `write one or more comma-separated URLs starting with ${schemes.join(" or ")}`,
    ),
  );
  return undefined;
}

/** A service's configuration, resolved, with where each part was written (for later rules). */
export interface ServiceSettings {
  /** Undefined when the written mode is invalid (reported): mode-dependent rules are then skipped. */
  mode: "p2p" | "leader" | undefined;
  modeSetting?: Setting;
  /** @default 1 */
  replicas: number;
  replicasSetting?: Setting;
  /** The written lease; the model applies the default. */
  leaseMs?: number;
  timeoutMs?: number;
  image?: string;
  port?: number;
  handler?: string;
  env: Record<string, string>;
  resources?: ResourcesModel;
}

/**
 * Checks the settings of one service: keys known and set once (C2007, C2004), values of the right
 * kind and range (C2008), replicas (C3004), a leader without standby (C3005), a lease only in leader
 * mode (C3006) and within bounds (C3007), and the handler timeout (C3008).
 */
export function checkServiceSettings(service: ServiceDecl, out: Diagnostic[]): ServiceSettings {
  const where = `service '${service.name.text}'`;
  const settings: Setting[] = [];
  const blocks = new Map<string, Span>();
  let timeout: TimeoutItem | undefined;
  const envBlocks: BlockItem[] = [];
  const resourceBlocks: BlockItem[] = [];

  // Setting-like items follow the rule of settings: each at most once per service.
  const once = (key: string, span: Span): boolean => {
    const first = blocks.get(key);
    if (first === undefined) {
      blocks.set(key, span);
      return true;
    }
    out.push(
      diagnostic("C2004", span, `'${key}' is set twice in ${where}`, {
        hint: "keep one of them",
        related: [{ message: "first set here", span: first }],
      }),
    );
    return false;
  };

  for (const item of service.items) {
    switch (item.kind) {
      case "ServiceSetting":
        settings.push(item.setting);
        break;
      case "Timeout":
        if (once("timeout", item.span)) timeout = item;
        break;
      case "Env":
        if (once("env", item.span)) envBlocks.push(item);
        break;
      case "Resources":
        if (once("resources", item.span)) resourceBlocks.push(item);
        break;
      default:
        break;
    }
  }

  const found = checkKeys(settings, SERVICE_KEYS, where, out, suggestServiceKey);
  const result: ServiceSettings = { mode: "p2p", replicas: 1, env: {} };

  const modeSetting = found.get("mode");
  if (modeSetting) {
    result.modeSetting = modeSetting;
    result.mode = wordValue(modeSetting, SERVICE_MODES, out);
  }

  const replicasSetting = found.get("replicas");
  // Whether the replica count is known: an invalid one is reported once, not again as C3005.
  let replicasKnown = true;
  if (replicasSetting) {
    result.replicasSetting = replicasSetting;
    const n = intValue(replicasSetting, out);
    replicasKnown = n !== undefined && n >= 1;
    if (n !== undefined && n < 1) {
      out.push(
        diagnostic("C3004", replicasSetting.value.span, `${where} needs at least 1 replica, not ${n}`, {
          hint: "write 'replicas 1' or more; to stop a service, remove it from the topology",
        }),
      );
    } else if (n !== undefined) result.replicas = n;
  }

  if (result.mode === "leader" && replicasKnown && result.replicas === 1) {
    const at = replicasSetting ?? modeSetting;
    if (at) {
      out.push(
        diagnostic(
          "C3005",
          at.span,
          `${where} runs in leader mode with a single replica: nothing stands by`,
          {
            hint: "when the leader dies nobody takes over until it restarts: write 'replicas 2' or more",
          },
        ),
      );
    }
  }

  const lease = found.get("lease");
  if (lease) {
    const ms = durationValue(lease, out);
    if (result.mode === "p2p") {
      out.push(
        diagnostic("C3006", lease.key.span, `'lease' applies only to leader mode, but ${where} is p2p`, {
          hint: "remove 'lease', or write 'mode leader' if one replica at a time should serve",
        }),
      );
    }
    if (ms !== undefined && (ms < LEASE_MIN_MS || ms > LEASE_MAX_MS)) {
      out.push(
        diagnostic("C3007", lease.value.span, `lease ${lease.value.text} is outside the allowed 1s to 5m`, {
          hint:
            ms < LEASE_MIN_MS
              ? "shorter leases expire on a GC pause or a slow Redis round trip: use at least 1s (10s is the default)"
              : "a dead leader keeps its lease until it expires, so nobody serves that long: use at most 5m",
        }),
      );
    } else if (ms !== undefined) result.leaseMs = ms;
  }

  if (timeout && !isPlaceholder(timeout.duration)) {
    const ms = timeout.duration.ms;
    if (ms === 0 || ms > TIMEOUT_MAX_MS) {
      out.push(
        diagnostic(
          "C3008",
          timeout.duration.span,
          `timeout ${timeout.duration.text} is not a usable deadline`,
          {
            hint:
              ms === 0
                ? "every request would fail at once: use a positive duration like 5s"
                : "use at most 1h; longer work belongs in a saga or a scheduled job",
          },
        ),
      );
    } else result.timeoutMs = ms;
  }

  const image = found.get("image");
  if (image) {
    const v = stringValue(image, out);
    if (v === "" || (v !== undefined && /\s/.test(v))) {
      out.push(
        invalidValue(
          image,
          `'${v}' is not a container image`,
          'write an image reference like "ghcr.io/acme/order:1.2"',
        ),
      );
    } else if (v !== undefined) result.image = v;
  }

  const port = found.get("port");
  if (port) {
    const n = intValue(port, out);
    if (n !== undefined && (n < 1 || n > 65535)) {
      out.push(invalidValue(port, `port ${n} is outside 1 to 65535`, "use a TCP port such as 8080"));
    } else if (n !== undefined) result.port = n;
  }

  const handler = found.get("handler");
  if (handler) {
    const v = stringValue(handler, out);
    if (v === "")
      out.push(
        invalidValue(handler, "'handler' cannot be empty", 'write a module path like "./services/order.ts"'),
      );
    else if (v !== undefined) result.handler = v;
  }

  for (const block of envBlocks) {
    const seen = new Map<string, Setting>();
    const env: Record<string, string> = {};
    for (const setting of block.settings) {
      const key = setting.key.text;
      if (key === "") continue;
      const first = seen.get(key);
      if (first) {
        out.push(duplicateKey(setting, first, `the env of ${where}`));
        continue;
      }
      seen.set(key, setting);
      const v = stringValue(setting, out);
      if (v !== undefined) env[key] = v;
    }
    // Sorted so the model, and every manifest built from it, is byte-stable.
    for (const key of Object.keys(env).sort()) result.env[key] = env[key]!;
  }

  for (const block of resourceBlocks) {
    const resources = checkKeys(block.settings, RESOURCE_KEYS, `the resources of ${where}`, out);
    const model: ResourcesModel = {};
    const cpu = resources.get("cpu");
    if (cpu) {
      const v = stringValue(cpu, out);
      if (v !== undefined && !CPU_QUANTITY.test(v)) {
        out.push(
          invalidValue(
            cpu,
            `'${v}' is not a CPU quantity`,
            'write cores like "1" or "0.5", or millicores like "500m"',
          ),
        );
      } else if (v !== undefined) model.cpu = v;
    }
    const memory = resources.get("memory");
    if (memory) {
      const v = stringValue(memory, out);
      if (v !== undefined && !MEMORY_QUANTITY.test(v)) {
        out.push(
          invalidValue(
            memory,
            `'${v}' is not a memory quantity`,
            'write bytes with a unit like "256Mi" or "1Gi"',
          ),
        );
      } else if (v !== undefined) model.memory = v;
    }
    result.resources = model;
  }

  return result;
}

/**
 * "Did you mean" for an unknown service setting. A line like `handle CreateOrder` parses as a setting
 * whose value is a name, which is how item keywords read (`handles X`, `runs S`), so for a name
 * value keywords come first; for a number or string (`replica 3`, `imgae "x"`) settings do.
 */
function suggestServiceKey(setting: Setting): string | undefined {
  const key = setting.key.text;
  const value = setting.value;
  const modeWord = value.kind === "Identifier" && (SERVICE_MODES as readonly string[]).includes(value.text);
  if (value.kind === "Identifier" && !modeWord)
    return suggest(key, SERVICE_KEYWORDS) ?? suggest(key, SERVICE_KEYS);
  return suggest(key, SERVICE_KEYS) ?? suggest(key, SERVICE_KEYWORDS);
}

/** Checks a queue group name (C2008) and returns it when valid. */
export function checkQueueName(queue: { value: string; span: Span }, out: Diagnostic[]): string | undefined {
  if (QUEUE_NAME.test(queue.value)) return queue.value;
  out.push(
    diagnostic("C2008", queue.span, `'${queue.value}' is not a valid queue name`, {
      hint: "queue names use letters, digits, '.', '_' and '-', without spaces",
    }),
  );
  return undefined;
}
