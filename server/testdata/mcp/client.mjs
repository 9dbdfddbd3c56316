// Drives a grimoire server's /mcp with the TypeScript MCP SDK's client and
// prints one JSON line of what it saw; server/mcp_test.go asserts on it.
// Environment: GRIMOIRE_MCP_URL (http://host:port/mcp), GRIMOIRE_TOKEN.
// The Go test saves a spell "added-later" once this prints {"waiting":true}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const url = new URL(process.env.GRIMOIRE_MCP_URL);
const token = process.env.GRIMOIRE_TOKEN;
const out = {};

function connect(withToken) {
  const headers = withToken ? { Authorization: `Bearer ${token}` } : {};
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const client = new Client({ name: "grimoire-ts-test", version: "1.0.0" });
  return { client, connected: client.connect(transport) };
}

// No token: the server answers 401.
{
  const { connected } = connect(false);
  try {
    await connected;
    out.noTokenError = "";
  } catch (e) {
    out.noTokenError = `${e?.code ?? ""} ${e?.message ?? e}`;
  }
}

const { client, connected } = connect(true);
await connected;
let changed = 0;
let onChange = () => {};
client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
  changed++;
  onChange();
});

const { tools } = await client.listTools();
out.tools = tools.map((t) => t.name).sort();
out.typedSchema = tools.find((t) => t.name === "typed")?.inputSchema ?? null;

// A call with progress.
const progress = [];
const res = await client.callTool({ name: "typed", arguments: { name: "Ada" } }, undefined, {
  onprogress: (p) => progress.push(p),
});
out.call = { isError: !!res.isError, structured: res.structuredContent ?? null, text: res.content?.[0]?.text ?? "" };
out.progress = progress;

// A failing spell: a tool error naming the node.
const failed = await client.callTool({ name: "failing", arguments: {} });
out.failed = { isError: !!failed.isError, text: failed.content?.[0]?.text ?? "" };

// Cancel: abort the call once its first node has ended.
const ac = new AbortController();
let cancelledRun = "";
try {
  await client.callTool({ name: "hanging", arguments: { name: "Ada" } }, undefined, {
    signal: ac.signal,
    onprogress: (p) => {
      cancelledRun = p._meta?.["grimoire.run/runId"] ?? "";
      ac.abort("the user stopped it");
    },
  });
  out.cancel = { error: "", runId: cancelledRun };
} catch (e) {
  out.cancel = { error: String(e && e.message ? e.message : e), runId: cancelledRun };
}

// list_changed after a save.
const gotChange = new Promise((resolve) => {
  onChange = resolve;
  setTimeout(resolve, 15000).unref();
});
console.log(JSON.stringify({ waiting: true }));
await gotChange;
out.changed = changed;
out.toolsAfter = (await client.listTools()).tools.map((t) => t.name).sort();

await client.close();
console.log(JSON.stringify(out));
