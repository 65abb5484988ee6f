import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tlsFailureOf } from "../../runtime/_tls.js";
import { createRedis, parseRedisConfig, RedisConfigError } from "../../runtime/coordination/index.js";
import { TlsError } from "../../runtime/errors.js";

function fault(env: Record<string, string>): string | undefined {
  try {
    parseRedisConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(RedisConfigError);
    return (error as RedisConfigError).variable;
  }
  throw new Error("expected a RedisConfigError");
}

describe("tls config", () => {
  it("tls config — CATGA_REDIS_TLS_CA/CERT/KEY/SERVERNAME turn TLS on with those files", () => {
    expect(
      parseRedisConfig({
        CATGA_REDIS_MODE: "sentinel",
        CATGA_REDIS_SENTINELS: "s1:26379",
        CATGA_REDIS_TLS_CA: "/certs/ca.crt",
        CATGA_REDIS_TLS_CERT: "/certs/client.crt",
        CATGA_REDIS_TLS_KEY: "/certs/client.key",
        CATGA_REDIS_TLS_SERVERNAME: "redis",
      }),
    ).toEqual({
      mode: "sentinel",
      sentinels: [{ host: "s1", port: 26379 }],
      masterName: "catga",
      tls: {
        caFile: "/certs/ca.crt",
        certFile: "/certs/client.crt",
        keyFile: "/certs/client.key",
        servername: "redis",
      },
    });
    expect(parseRedisConfig({ CATGA_REDIS_URL: "rediss://r:6380", CATGA_REDIS_TLS_CA: "/ca" })).toEqual({
      mode: "standalone",
      url: "rediss://r:6380",
      tls: { caFile: "/ca" },
    });
  });

  it("tls config — TLS files with CATGA_REDIS_TLS=false or a plain redis:// URL are a contradiction", () => {
    expect(
      fault({ CATGA_REDIS_URL: "rediss://r:1", CATGA_REDIS_TLS: "false", CATGA_REDIS_TLS_CA: "/ca" }),
    ).toBe("CATGA_REDIS_TLS");
    expect(fault({ CATGA_REDIS_URL: "redis://r:1", CATGA_REDIS_TLS_CA: "/ca" })).toBe("CATGA_REDIS_URL");
  });

  it("tls config — an unreadable TLS file, or a certificate without its key, names the variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "catga-tls-unit-"));
    try {
      const cert = join(dir, "c.crt");
      writeFileSync(cert, "not really a certificate");
      const create = (tls: object) => {
        try {
          createRedis({ mode: "standalone", url: "rediss://127.0.0.1:1", tls }, {}).disconnect();
        } catch (error) {
          expect(error).toBeInstanceOf(RedisConfigError);
          return (error as RedisConfigError).variable;
        }
        return undefined;
      };
      expect(create({ caFile: join(dir, "missing.crt") })).toBe("CATGA_REDIS_TLS_CA");
      expect(create({ certFile: cert })).toBe("CATGA_REDIS_TLS_KEY");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tls config — a Sentinel client asks only the configured sentinels, never ones another sentinel reports", () => {
    // Sentinels report each other by IP address, which a certificate for the host names does not
    // list: under compose (test/compose) the default made a TLS client crash on the first one.
    const client = createRedis(
      {
        mode: "sentinel",
        sentinels: [{ host: "sentinel-0", port: 1 }],
        masterName: "catga",
        tls: {},
      },
      { connectTimeoutMs: 10 },
    );
    try {
      expect((client.options as { updateSentinels?: boolean }).updateSentinels).toBe(false);
      expect((client.options as { sentinels?: unknown[] }).sentinels).toEqual([
        { host: "sentinel-0", port: 1 },
      ]);
    } finally {
      client.disconnect();
    }
  });

  it("tls config — TLS failures are told apart from network failures by code, wrapped error and message", () => {
    const coded = (code: string, message = "x") => Object.assign(new Error(message), { code });
    expect(tlsFailureOf(coded("SELF_SIGNED_CERT_IN_CHAIN"))?.failure).toBe("untrusted-certificate");
    expect(tlsFailureOf(coded("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))?.failure).toBe("untrusted-certificate");
    expect(tlsFailureOf(coded("ERR_TLS_CERT_ALTNAME_INVALID"))?.failure).toBe("hostname-mismatch");
    expect(tlsFailureOf(coded("CERT_HAS_EXPIRED"))?.failure).toBe("expired-certificate");
    expect(tlsFailureOf(coded("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"))?.failure).toBe(
      "client-certificate-rejected",
    );
    expect(
      tlsFailureOf(
        new Error(
          "All sentinels are unreachable. Retrying from scratch after 27ms. Last error: self-signed certificate in certificate chain",
        ),
      )?.failure,
    ).toBe("untrusted-certificate");
    expect(
      tlsFailureOf(
        Object.assign(new Error("Failed to refresh slots cache."), {
          lastNodeError: coded("CERT_HAS_EXPIRED"),
        }),
      )?.failure,
    ).toBe("expired-certificate");
    expect(tlsFailureOf(new Error("server does not support 'tls'"))?.failure).toBe("server-not-tls");
    expect(tlsFailureOf(coded("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:6379"))).toBeUndefined();
    expect(tlsFailureOf(new Error("Connection is closed."))).toBeUndefined();
    const error = new TlsError("rediss://r:6380", "untrusted-certificate", "set CATGA_REDIS_TLS_CA …");
    expect(error.code).toBe("TLS");
    expect(error.message).toContain("rediss://r:6380");
  });
});
