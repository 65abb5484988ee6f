// In-process A/B of reading a version 5 request and a reply: the base build's dist (/tmp/base, a
// worktree of 3fdca69) against this one's. `node bench/results/lazy-ab/wire/read-ab.mjs`
const A = await import("/tmp/base/runtime/dist/_wire.js");
const B = await import("/work/main/runtime/dist/_wire.js");
const v = { text: "hello", n: 42 };
// as nats.js delivers: views into a chunk
function views(W) {
  const out = [];
  const chunk = new Uint8Array(64 * 1024);
  let at = 0;
  for (let i = 0; i < 1000; i++) {
    const env = W.envelope4(
      v,
      W.newMessageId(),
      Date.now() + 5000,
      "Echo@621f076764e32737",
      undefined,
      undefined,
      true,
    );
    chunk.set(env, at);
    out.push(chunk.subarray(at, at + env.length));
    at += env.length + 7;
  }
  return out;
}
const reply = Buffer.from('{"text":"hello","n":42}');
const rchunk = new Uint8Array(4096);
rchunk.set(reply, 13);
const rview = rchunk.subarray(13, 13 + reply.length);
function bench(W, msgs, withId) {
  const N = 2000;
  let s = 0;
  const t = process.hrtime.bigint();
  for (let k = 0; k < N; k++)
    for (const data of msgs) {
      const w = W.readWire({ data, headers: {} }, "Echo", "request");
      s += W.decodeBody(data, w, "Echo", "request").n;
      if (withId) s += w.messageId.length;
    }
  return [Number(process.hrtime.bigint() - t) / (N * msgs.length), s][0];
}
function benchDecode(W) {
  const N = 2e6;
  let s = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) s += W.decode(rview, "Echo", "result").n;
  return [Number(process.hrtime.bigint() - t) / N, s][0];
}
const ma = views(A),
  mb = views(B);
for (let rep = 0; rep < 3; rep++) {
  console.log(
    `read: base ${bench(A, ma, false).toFixed(0)} new ${bench(B, mb, false).toFixed(0)} | with id: base ${bench(A, ma, true).toFixed(0)} new ${bench(B, mb, true).toFixed(0)} | decode reply: base ${benchDecode(A).toFixed(0)} new ${benchDecode(B).toFixed(0)} ns`,
  );
}
