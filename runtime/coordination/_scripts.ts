/**
 * The Lua scripts of {@link RedisCoordination}. Each step that reads and then writes runs as one
 * script, so no other client can interleave between the check and the write. Every script names
 * all its keys in KEYS and all of them share the scope's hash tag: Redis Cluster requires a
 * script's keys to live in one slot, and routes the script by them. No KEYS or SCAN anywhere.
 *
 * Tokens are compared as numbers (`tonumber`): they stay far below 2^53, where Lua doubles are exact.
 */
import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** A script and its SHA1, for EVALSHA. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
  readonly keys: number;
}

function script(name: string, keys: number, source: string): LuaScript {
  return { name, source, keys, sha: createHash("sha1").update(source).digest("hex") };
}

// The lease value is `owner|token`; the owner may itself contain `|`, the token never does, so the
// split is at the last `|`.
const PARSE_LEASE = `
local function parse(v)
  local owner, token = string.match(v, '^(.*)|(%d+)$')
  return owner, tonumber(token)
end
`;

/** KEYS: lease, token. ARGV: owner, ttlMs. → token | nil. */
export const ACQUIRE = script(
  "acquire",
  2,
  `${PARSE_LEASE}
local current = redis.call('GET', KEYS[1])
if current then
  local owner, token = parse(current)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return token
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
`,
);

/** KEYS: lease. ARGV: owner, token, ttlMs. → 1 | 0. */
export const RENEW = script(
  "renew",
  1,
  `
if redis.call('GET', KEYS[1]) == ARGV[1] .. '|' .. ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`,
);

/** KEYS: lease. ARGV: owner, token. → 1 | 0. */
export const RELEASE = script(
  "release",
  1,
  `
if redis.call('GET', KEYS[1]) == ARGV[1] .. '|' .. ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`,
);

// The fence check shared by the fenced writes. KEYS[1] data, KEYS[2] fence, KEYS[3] term counter;
// ARGV[1] token. A token below the term counter is a deposed leader's, even for a key the new
// leader has not written yet; a token above it was never issued by this store (it was lost in a
// failover that dropped the INCR), so it is refused as well.
const FENCE_CHECK = `
local token = tonumber(ARGV[1])
local term = tonumber(redis.call('GET', KEYS[3]) or '0')
local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < term or token < seen or token > term then
  return {0, math.max(term, seen)}
end
redis.call('SET', KEYS[2], ARGV[1])
`;

/** KEYS: data, fence, token. ARGV: token, value. → {1, 0} | {0, highest}. */
export const FENCED_SET = script(
  "fencedSet",
  3,
  `${FENCE_CHECK}
redis.call('SET', KEYS[1], ARGV[2])
return {1, 0}
`,
);

/** KEYS: data, fence, token. ARGV: token, field, value. → {1, 0} | {0, highest}. */
export const FENCED_HSET = script(
  "fencedHset",
  3,
  `${FENCE_CHECK}
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return {1, 0}
`,
);

/**
 * KEYS: data, fence, token. ARGV: token, n (pairs to set), field1, value1, …, fieldN, valueN, then
 * the fields to remove. → {1, 0} | {0, highest}.
 */
export const FENCED_HUPDATE = script(
  "fencedHupdate",
  3,
  `${FENCE_CHECK}
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[3 + 2 * i], ARGV[4 + 2 * i])
end
for i = 3 + 2 * n, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
return {1, 0}
`,
);

/** KEYS: data, fence, token. ARGV: token. → {1, 0} | {0, highest}. */
export const FENCED_DELETE = script(
  "fencedDelete",
  3,
  `${FENCE_CHECK}
redis.call('DEL', KEYS[1])
return {1, 0}
`,
);

/** KEYS: tick, token. ARGV: tick, token. → {1, last} | {0, last}. */
export const CLAIM_TICK = script(
  "claimTick",
  2,
  `
local tick = tonumber(ARGV[1])
local token = tonumber(ARGV[2])
local term = tonumber(redis.call('GET', KEYS[2]) or '0')
local current = redis.call('GET', KEYS[1])
local last = 0
if current then last = tonumber(string.match(current, '^(%d+)|')) end
if token ~= term or tick <= last then
  return {0, last}
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
return {1, last}
`,
);

/**
 * Runs `s` by EVALSHA, loading it with EVAL when the server does not know it yet (first use, a
 * restarted or failed-over server, another cluster node): EVAL caches it for the next EVALSHA.
 */
export async function runScript(
  client: Redis | Cluster,
  s: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, s.keys, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await client.eval(s.source, s.keys, ...keys, ...args);
  }
}
