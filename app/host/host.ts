// The host side of MCP Apps for the browser test: like Claude or VS Code, it shows the app's
// ui:// HTML in a sandboxed iframe under a Content-Security-Policy built from the resource's
// _meta.ui.csp, speaks the Apps protocol with the ext-apps AppBridge, hands it a tool result,
// and passes the app's tools/call requests to the real server (through the test driver).

import {
  AppBridge,
  type McpUiHostContext,
  PostMessageTransport,
} from "@modelcontextprotocol/ext-apps/app-bridge";

type CallTool = (params: unknown) => Promise<unknown>;

interface Start {
  html: string;
  resourceDomains: string[];
  toolName: string;
  toolInput: Record<string, unknown>;
  toolResult: Record<string, unknown>;
  theme: "light" | "dark";
  width: number;
}

declare global {
  interface Window {
    hostCallTool: CallTool;
    nemoHost: { start(opts: Start): Promise<void>; setTheme(theme: "light" | "dark"): Promise<void> };
    hostLog: string[];
  }
}

window.hostLog = [];
let bridge: AppBridge | undefined;

/** The policy a host puts on an app: nothing from the network but the declared domains. */
function policy(domains: string[]): string {
  const d = domains.join(" ");
  return [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    `img-src data: blob: ${d}`,
    `media-src data: blob: ${d}`,
    `font-src data: ${d}`,
    "connect-src 'none'",
  ].join("; ");
}

async function start(opts: Start): Promise<void> {
  document.body.classList.toggle("dark", opts.theme === "dark");
  const box = document.getElementById("frame-box")!;
  box.style.setProperty("--width", `${opts.width}px`);
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.setAttribute("allow", "autoplay");
  const meta = `<meta http-equiv="Content-Security-Policy" content="${policy(opts.resourceDomains)}">`;
  iframe.srcdoc = opts.html.replace(/<head>/i, `<head>${meta}`);
  box.replaceChildren(iframe);

  const context: McpUiHostContext = {
    theme: opts.theme,
    displayMode: "inline",
    platform: "web",
    containerDimensions: { maxWidth: opts.width, maxHeight: 2000 },
  };
  bridge = new AppBridge(
    null,
    { name: "nemo-mcp-test-host", version: "1.0.0" },
    { serverTools: {}, logging: {} },
    { hostContext: context },
  );
  bridge.oncalltool = async (params) => {
    window.hostLog.push(`tools/call ${params.name}`);
    return (await window.hostCallTool(params)) as never;
  };
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${Math.ceil(height)}px`;
  };
  bridge.onloggingmessage = (params) => window.hostLog.push(`log ${JSON.stringify(params.data)}`);
  const ready = new Promise<void>((resolve) => {
    bridge!.oninitialized = () => resolve();
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow!, iframe.contentWindow!));
  await ready;
  window.hostLog.push("initialized");
  await bridge.sendToolInput({ arguments: opts.toolInput });
  await bridge.sendToolResult(opts.toolResult as never);
}

async function setTheme(theme: "light" | "dark"): Promise<void> {
  document.body.classList.toggle("dark", theme === "dark");
  await bridge?.sendHostContextChange({ theme });
}

window.nemoHost = { start, setTheme };
