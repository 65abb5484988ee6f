/**
 * Name normalisation shared by the checker and the emitters: the checker must reject two names
 * that the emitters would turn into the same deployment name, so both use this one function.
 */

/**
 * A DNS-1123 label (Kubernetes object and compose service names): lower case, `a-z0-9-`, starting
 * with a letter, ending alphanumeric, at most 63 characters. `orderService` → `order-service`,
 * `Order_2` → `order-2`. Stable: the same input always gives the same label. A name that had to be
 * cut gets a short hash suffix so two long names do not collide.
 */
export function dnsLabel(name: string, max = 63): string {
  let label = name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "");
  if (label === "") label = `x${fnv1a(name).slice(0, 6)}`;
  if (label.length > max) label = `${label.slice(0, max - 7).replace(/-+$/, "")}-${fnv1a(name).slice(0, 6)}`;
  return label;
}

/** FNV-1a (32 bit) as 8 hex digits: a tiny stable hash for name suffixes (not for security). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}
