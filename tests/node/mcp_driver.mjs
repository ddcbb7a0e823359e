// Drive an MCP server with the TypeScript SDK client, one JSON request per stdin line.
//
//   node mcp_driver.mjs v1|v2|v2-modern stdio COMMAND [ARGS...]   (server environment: this one's)
//   node mcp_driver.mjs v1|v2|v2-modern http URL
//
// v1 is @modelcontextprotocol/sdk 1.x (what most hosts embed), v2 is @modelcontextprotocol/client
// 2.x with its default negotiation (the 2025 handshake), v2-modern the same client negotiating
// the 2026-07-28 revision ("auto"). Each stdin line is {"id": N, "op": ..., ...}; each answer is one stdout line
// {"id": N, "ok": true, "result": ...} or {"id": N, "ok": false, "error": {"name", "code",
// "message"}}: a client that throws on a result shows up as ok=false. Ops: info, list_tools,
// call {name, arguments}, list_prompts, get_prompt {name, arguments}, list_templates,
// read_resource {uri}, complete {ref, argument, context}, close.
// Like a host, the driver lists the tools before calling any (so the client knows their
// output schemas) and declares the roots capability, answering with ROOTS (file:// URIs,
// comma-separated) when that variable is set. Over HTTP, NEMO_TEST_BEARER (when set) is sent as
// the Authorization bearer on every request, as a host configured with a token does.

import { createInterface } from "node:readline";

const [sdk, kind, target, ...rest] = process.argv.slice(2);
const bearer = process.env.NEMO_TEST_BEARER;
const httpOptions = bearer
  ? { requestInit: { headers: { Authorization: `Bearer ${bearer}` } } }
  : undefined;
const roots = (process.env.NEMO_TEST_ROOTS || "")
  .split(",")
  .filter(Boolean)
  .map((uri) => ({ uri, name: uri.split("/").pop() }));

async function connect() {
  const info = { name: "nemo-mcp-tests", version: "1.0.0" };
  const capabilities = roots.length ? { roots: { listChanged: false } } : {};
  if (sdk === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const types = await import("@modelcontextprotocol/sdk/types.js");
    const client = new Client(info, { capabilities });
    if (roots.length) {
      client.setRequestHandler(types.ListRootsRequestSchema, async () => ({ roots }));
    }
    let transport;
    if (kind === "stdio") {
      const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
      transport = new StdioClientTransport({ command: target, args: rest, env: { ...process.env }, stderr: "inherit" });
    } else {
      const { StreamableHTTPClientTransport } = await import(
        "@modelcontextprotocol/sdk/client/streamableHttp.js"
      );
      transport = new StreamableHTTPClientTransport(new URL(target), httpOptions);
    }
    await client.connect(transport);
    return client;
  }
  const mod = await import("@modelcontextprotocol/client");
  const versionNegotiation = sdk === "v2-modern" ? { mode: "auto" } : undefined;
  const client = new mod.Client(info, { capabilities, versionNegotiation });
  if (roots.length) client.setRequestHandler("roots/list", async () => ({ roots }));
  let transport;
  if (kind === "stdio") {
    const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
    transport = new StdioClientTransport({ command: target, args: rest, env: { ...process.env }, stderr: "inherit" });
  } else {
    transport = new mod.StreamableHTTPClientTransport(new URL(target), httpOptions);
  }
  await client.connect(transport);
  return client;
}

function describe(err) {
  return {
    name: err?.constructor?.name ?? "Error",
    code: err?.code ?? null,
    message: String(err?.message ?? err),
  };
}

async function run(client, req) {
  switch (req.op) {
    case "info":
      return {
        server: client.getServerVersion(),
        capabilities: client.getServerCapabilities(),
        instructions: client.getInstructions(),
        era: typeof client.getProtocolEra === "function" ? client.getProtocolEra() : "legacy",
      };
    case "list_tools":
      return client.listTools();
    case "call": {
      const progress = [];
      const options = {
        timeout: 300_000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => progress.push(p),
      };
      const params = { name: req.name, arguments: req.arguments ?? {} };
      const result =
        sdk === "v1" ? await client.callTool(params, undefined, options) : await client.callTool(params, options);
      return { ...result, progress };
    }
    case "list_prompts":
      return client.listPrompts();
    case "get_prompt":
      return client.getPrompt({ name: req.name, arguments: req.arguments ?? {} });
    case "list_templates":
      return client.listResourceTemplates();
    case "read_resource":
      return client.readResource({ uri: req.uri });
    case "complete":
      return client.complete({ ref: req.ref, argument: req.argument, context: req.context });
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const client = await connect();
await client.listTools(); // as hosts do: the client learns the output schemas it validates against
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  if (req.op === "close") break;
  let answer;
  try {
    answer = { id: req.id, ok: true, result: await run(client, req) };
  } catch (err) {
    answer = { id: req.id, ok: false, error: describe(err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await client.close();
process.exit(0);
