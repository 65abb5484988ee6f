/**
 * The dashboard page: one module, no framework. It listens to /events (server-sent events, one state
 * snapshot a second), draws a panel per service and the infrastructure, overlays the live state on
 * the build's topology.svg (by its data-service and data-message attributes) and, when the server
 * owns the processes, asks for kills and scales after a confirmation.
 *
 * Everything from the state (instance and service names come from heartbeats, which any NATS client
 * could publish without NATS users) is put in the page as text, never as markup.
 */

const SVG_NS = "http://www.w3.org/2000/svg";
/** An instance whose last heartbeat is older than this is shown as silent (as the terminal view). */
const SILENT_AFTER_MS = 6000;

const token = document.querySelector('meta[name="catga-token"]')?.getAttribute("content") ?? "";
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** A DOM element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c);
  return node;
}

const fmtRate = (r) => (r === null || r === undefined ? "-" : r.toFixed(1));
const fmtAge = (ms) => `${(ms / 1000).toFixed(1)}s`;

/** The service cards, kept across snapshots so an input being typed in survives the redraw. */
const cards = new Map();
/** The picture: the inline SVG once loaded, and each node's box before any overlay was added. */
let picture = null;
const boxes = new WeakMap();

/** How a service is doing: down (nothing heard, or leader mode without a leader), degraded, ok. */
function liveness(s) {
  const heard = s.instances.filter((i) => i.lastSeenMs <= SILENT_AFTER_MS).length;
  if ((s.replicas > 0 && heard === 0) || (s.mode === "leader" && s.replicas > 0 && s.leader === null)) {
    return { heard, state: "down" };
  }
  return { heard, state: heard < s.replicas ? "degraded" : "ok" };
}

function card(service) {
  let c = cards.get(service.name);
  if (c !== undefined) return c;
  const summary = el("p", { class: "summary" });
  const leader = el("p", { class: "leader" });
  const tbody = el("tbody");
  const table = el(
    "table",
    {},
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["instance", "role", "pid", "handled", "failed", "rate/s", "last beat", ""].map((h) =>
          el("th", {}, h),
        ),
      ),
    ),
    tbody,
  );
  const heading = el("h2", {}, el("span", {}, service.name), el("small", { class: "mode" }, ""));
  const root = el(
    "article",
    { class: "service", "data-service": service.name },
    heading,
    summary,
    leader,
    table,
  );
  c = { root, heading, summary, leader, tbody, rows: new Map(), scale: undefined };
  cards.set(service.name, c);
  byId("services").append(root);
  return c;
}

function scaleControls(service) {
  const input = el("input", {
    type: "number",
    min: "0",
    max: "50",
    value: String(service.replicas),
    "aria-label": `instances of ${service.name}`,
  });
  const button = el("button", { type: "button", class: "scale-button" }, "scale");
  button.addEventListener("click", async () => {
    const replicas = Number(input.value);
    const current = cards.get(service.name)?.replicas ?? service.replicas;
    if (!Number.isInteger(replicas) || replicas < 0) {
      notice(`scale ${service.name}: ${input.value} is not a whole number ≥ 0`, true);
      return;
    }
    const answer = await confirmAction(
      `Scale ${service.name} from ${current} to ${replicas} instance(s)? ${
        replicas < current
          ? "The highest-numbered ones are drained (SIGTERM)."
          : "New instances start and must report ready."
      }`,
      false,
    );
    if (!answer.ok) return;
    notice(`scaling ${service.name} to ${replicas}…`);
    await act("/api/scale", { service: service.name, replicas });
  });
  return el("div", { class: "scale" }, input, button);
}

function renderService(service, actions) {
  const c = card(service);
  c.replicas = service.replicas;
  const { heard, state } = liveness(service);
  c.root.dataset.live = state;
  c.heading.querySelector(".mode").textContent = service.mode === "leader" ? "leader mode" : "p2p";
  c.summary.textContent = `${heard}/${service.replicas} heard · handled ${service.handled} · failed ${service.failed}${
    service.invalid > 0 ? ` (${service.invalid} invalid)` : ""
  } · ${fmtRate(service.rate)}/s`;
  if (service.mode === "leader") {
    c.leader.hidden = false;
    c.leader.classList.toggle("none", service.leader === null);
    c.leader.textContent =
      service.leader === null
        ? "no leader"
        : `leader ${service.leader.instance} · fencing token ${service.leader.fencingToken}`;
  } else {
    c.leader.hidden = true;
  }
  if (actions && c.scale === undefined) {
    c.scale = scaleControls(service);
    c.heading.append(c.scale);
  }
  // Rows are kept per instance and only their cells change, so a button stays put while it is clicked.
  const ids = new Set(service.instances.map((i) => i.id));
  for (const [id, row] of c.rows)
    if (!ids.has(id)) {
      row.remove();
      c.rows.delete(id);
    }
  for (const i of service.instances) {
    let row = c.rows.get(i.id);
    if (row === undefined) {
      const kill = actions
        ? el(
            "button",
            {
              type: "button",
              class: "danger kill",
              "data-instance": i.id,
              onclick: () => killFromPage(i.id),
            },
            "kill",
          )
        : "";
      row = el(
        "tr",
        { class: "instance", "data-instance": i.id },
        el("td", {}, i.id),
        ...["role", "num", "num", "num", "num", "num"].map((cls) => el("td", { class: cls })),
        el("td", {}, kill),
      );
      c.rows.set(i.id, row);
    }
    c.tbody.append(row); // in the snapshot's order (append moves a row that is already there)
    const silent = i.lastSeenMs > SILENT_AFTER_MS;
    const leads = service.leader?.instance === i.id;
    const role = i.role === "leader" && leads ? `leader #${service.leader.fencingToken}` : i.role;
    row.setAttribute("data-role", i.role);
    row.toggleAttribute("data-silent", silent);
    const cells = row.children;
    cells[1].textContent = silent ? `${role} (silent)` : role;
    cells[2].textContent = String(i.pid ?? "-");
    cells[3].textContent = String(i.handled);
    cells[4].textContent = String(i.failed);
    cells[4].classList.toggle("failed", i.failed > 0);
    cells[5].textContent = fmtRate(i.rate);
    cells[6].textContent = fmtAge(i.lastSeenMs);
  }
}

function rows(panel, header, lines) {
  const box = byId(panel);
  box.hidden = lines.length === 0 && panel !== "nats" && panel !== "redis";
  box
    .querySelector("tbody")
    .replaceChildren(
      el("tr", {}, ...header.map((h) => el("th", {}, h))),
      ...lines.map((cells) => el("tr", {}, ...cells.map((x) => el("td", {}, String(x))))),
    );
}

function renderInfra(status) {
  rows(
    "nats",
    ["server", "routes"],
    status.nats.servers.map((s) => [s.url, s.routes ?? "unknown"]),
  );
  const redis = byId("redis");
  redis.querySelector("h2").textContent =
    status.redis === null ? "Redis (none known)" : `Redis ${status.redis.mode}`;
  rows(
    "redis",
    ["node", "address", "role", "primary"],
    (status.redis?.nodes ?? []).map((n) => [
      n.name ?? "",
      n.address,
      n.role,
      [n.primary ?? "", n.clusterState ? `cluster_state:${n.clusterState}` : ""].filter(Boolean).join(" "),
    ]),
  );
  rows(
    "sagas",
    ["saga", "running", "compensating", "completed", "compensated", "failed"],
    Object.entries(status.sagas ?? {}).map(([name, c]) => [
      name,
      c.running,
      c.compensating,
      c.completed,
      c.compensated,
      c.failed,
    ]),
  );
  rows(
    "durable",
    ["stream / consumer", "event", "pending", "ack pending", "redelivered", "dead letters"],
    [
      ...(status.durable?.streams ?? []).map((s) => [
        `stream ${s.name}`,
        "",
        s.messages === null ? "missing" : `${s.messages} msgs`,
        "",
        "",
        "",
      ]),
      ...(status.durable?.consumers ?? []).map((c) => [
        c.consumer,
        c.event,
        c.pending ?? "missing",
        c.ackPending ?? "",
        c.redelivered ?? "",
        c.deadLetters,
      ]),
    ],
  );
}

/** Puts the live state on the picture: a status per service node, a line under it, and durable edges. */
function overlay(status) {
  if (picture === null) return;
  const services = new Map(status.services.map((s) => [s.name, s]));
  for (const node of picture.querySelectorAll("[data-service]")) {
    const s = services.get(node.getAttribute("data-service"));
    let text = node.querySelector(":scope > text.catga-live");
    if (s === undefined) {
      node.removeAttribute("data-live");
      text?.remove();
      continue;
    }
    const { heard, state } = liveness(s);
    node.setAttribute("data-live", state);
    if (!boxes.has(node)) boxes.set(node, node.getBBox());
    const box = boxes.get(node);
    if (text === null) {
      // Two lines under the node: instances, rate and failures; then the leader and its token.
      text = document.createElementNS(SVG_NS, "text");
      text.setAttribute("class", "catga-live");
      for (const dy of ["12", "13"]) {
        const line = document.createElementNS(SVG_NS, "tspan");
        line.setAttribute("x", String(box.x + 2));
        line.setAttribute("dy", dy);
        text.append(line);
      }
      text.setAttribute("y", String(box.y + box.height));
      node.append(text);
    }
    const [first, second] = text.children;
    first.textContent = `${heard}/${s.replicas} · ${fmtRate(s.rate)}/s${s.failed > 0 ? ` · ${s.failed} failed` : ""}`;
    second.textContent =
      s.mode === "leader" ? (s.leader ? `★${s.leader.instance} #${s.leader.fencingToken}` : "no leader") : "";
  }
  const consumers = new Map();
  for (const c of status.durable?.consumers ?? []) {
    const seen = consumers.get(c.event) ?? { pending: 0, deadLetters: 0 };
    consumers.set(c.event, {
      pending: seen.pending + (c.pending ?? 0),
      deadLetters: seen.deadLetters + c.deadLetters,
    });
  }
  for (const edge of picture.querySelectorAll("[data-message]")) {
    const c = consumers.get(edge.getAttribute("data-message"));
    if (c === undefined) continue;
    edge.setAttribute("data-live", c.deadLetters > 0 ? "dead-letters" : c.pending > 0 ? "pending" : "ok");
    let title = edge.querySelector(":scope > title.catga-live");
    if (title === null) {
      title = document.createElementNS(SVG_NS, "title");
      title.setAttribute("class", "catga-live");
      edge.prepend(title);
    }
    title.textContent = `${edge.getAttribute("data-message")}: pending ${c.pending}, dead letters ${c.deadLetters}`;
  }
}

/** Loads the build's topology.svg inline (so it can be overlaid), without anything active in it. */
async function loadPicture() {
  const res = await fetch("/topology.svg");
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return;
  for (const s of svg.querySelectorAll("script, foreignObject")) s.remove();
  for (const node of svg.querySelectorAll("*")) {
    for (const a of [...node.attributes]) {
      if (a.name.toLowerCase().startsWith("on") || /^\s*javascript:/i.test(a.value))
        node.removeAttribute(a.name);
    }
  }
  picture = document.importNode(svg, true);
  for (const node of picture.querySelectorAll("[data-service]")) {
    node.addEventListener("click", () => {
      const name = node.getAttribute("data-service");
      for (const c of document.querySelectorAll(".service"))
        if (c.getAttribute("data-service") === name)
          c.scrollIntoView({ behavior: "smooth", block: "center" });
    });
  }
  byId("graph").replaceChildren(picture);
}

let pictureAsked = false;

function render(snapshot) {
  byId("topology").textContent = snapshot.topology ?? "catga";
  document.title = `${snapshot.topology ?? "catga"} — catga dashboard`;
  byId("mode").textContent = snapshot.actions
    ? "kill and scale act on the cluster this 'catga up' runs"
    : "read-only: this dashboard does not own the processes";
  const connection = byId("connection");
  if (snapshot.status === null) {
    connection.dataset.state = "error";
    connection.textContent = `cannot read the state: ${snapshot.error ?? "unknown error"}`;
    return;
  }
  connection.dataset.state = "live";
  connection.textContent = `live · ${new Date(snapshot.at).toLocaleTimeString()}`;
  if (snapshot.picture && !pictureAsked) {
    pictureAsked = true;
    loadPicture()
      .then(() => overlay(snapshot.status))
      .catch((error) => notice(`cannot show topology.svg: ${error}`, true));
  }
  const names = new Set(snapshot.status.services.map((s) => s.name));
  for (const [name, c] of cards)
    if (!names.has(name)) {
      c.root.remove();
      cards.delete(name);
    }
  for (const s of snapshot.status.services) renderService(s, snapshot.actions);
  renderInfra(snapshot.status);
  overlay(snapshot.status);
}

function notice(text, error = false) {
  const n = byId("notice");
  n.textContent = text;
  n.classList.toggle("error", error);
}

/** Shows the confirmation dialog; resolves with the choice (and the graceful box, when offered). */
function confirmAction(text, offerGraceful) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("confirm"));
  byId("confirm-text").textContent = text;
  byId("confirm-graceful-label").hidden = !offerGraceful;
  const graceful = /** @type {HTMLInputElement} */ (byId("confirm-graceful"));
  graceful.checked = false;
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve({ ok: dialog.returnValue === "ok", graceful: offerGraceful && graceful.checked }),
      { once: true },
    );
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

async function killFromPage(id) {
  const answer = await confirmAction(
    `Kill ${id}? SIGKILL by default, as 'catga kill': a crash, so a leader's lease runs out before a standby takes over.`,
    true,
  );
  if (!answer.ok) return;
  notice(`${answer.graceful ? "draining" : "killing"} ${id}…`);
  await act("/api/kill", { instance: id, graceful: answer.graceful });
}

/** POSTs an action with this run's token; shows what the server answered. */
async function act(path, body) {
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Catga-Token": token },
      body: JSON.stringify(body),
    });
    const answer = await res.json();
    notice(answer.message, !answer.ok);
  } catch (error) {
    notice(`${path}: ${error}`, true);
  }
}

const events = new EventSource("/events");
events.addEventListener("message", (e) => render(JSON.parse(e.data)));
events.addEventListener("error", () => {
  const connection = byId("connection");
  connection.dataset.state = "lost";
  connection.textContent = "connection lost: retrying…";
});
