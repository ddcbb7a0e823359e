// The browser test's driver: a host, end to end. It starts `nemo-mcp serve` (stdio) under the
// TypeScript SDK's client advertising MCP Apps, makes a music video through the tools, reads the
// app's ui:// resource, then shows the app in headless Chromium (driven by Playwright) inside
// host.html with the export result, and checks what a person would: the video plays, the
// timeline shows the tracks, the buttons reach the server. Screenshots go to the output folder.
//
//   node drive.mjs CONFIG.json     (prints one JSON report on stdout; progress on stderr)
//
// CONFIG: {"server": [cmd, ...args], "env": {...}, "song": path (or "uploads": [paths] and
//          "messages": [chat messages], for another job), "chromium": path,
//          "hostPage": path to the built host.html, "out": folder for screenshots,
//          "edit": a chat message to send through the app's text box}

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { chromium } from "playwright-core";

const APPS = "io.modelcontextprotocol/ui";
const MIME = "text/html;profile=mcp-app";
const config = JSON.parse(await readFile(process.argv[2], "utf8"));
const report = { calls: [], screenshots: [] };
const log = (...a) => console.error("[drive]", ...a);

// -- the host's MCP client -----------------------------------------------------------------
const client = new Client(
  { name: "nemo-mcp-test-host", version: "1.0.0" },
  { capabilities: { extensions: { [APPS]: { mimeTypes: [MIME] } } } },
);
const [command, ...args] = config.server;
await client.connect(
  new StdioClientTransport({ command, args, env: { ...process.env, ...config.env }, stderr: "inherit" }),
);

async function call(name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  report.calls.push({ name, isError: Boolean(result.isError) });
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return result;
}

const tools = (await client.listTools()).tools;
report.bound = Object.fromEntries(
  tools.filter((t) => t._meta?.ui?.resourceUri).map((t) => [t.name, t._meta.ui.resourceUri]),
);
const uri = report.bound.nemo_export;
if (!uri) throw new Error("nemo_export is not bound to an app for a host with MCP Apps");

log("making the video");
await call("nemo_upload", { items: config.uploads ?? [config.song] });
const messages = config.messages ?? [
  "make a music video synced to my song",
  'add a title "Summer" from 0 to 3 seconds',
];
for (const message of messages) await call("nemo_chat", { message });
const state = await call("nemo_get_state", {}); // the app on the timeline, before any export

const resource = await client.readResource({ uri });
const app = resource.contents[0];
const listed = (await client.listResources()).resources.find((r) => r.uri === uri);
const ui = app._meta?.ui ?? listed?._meta?.ui ?? {};
report.resource = { mimeType: app.mimeType, csp: ui.csp, bytes: app.text.length };

// -- the host page, on its own origin --------------------------------------------------------
const hostHtml = await readFile(config.hostPage, "utf8");
const web = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(hostHtml);
});
await new Promise((resolve) => web.listen(0, "127.0.0.1", resolve));
const hostUrl = `http://127.0.0.1:${web.address().port}/host.html`;

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});

async function open(width, theme, toolName = "nemo_export", toolResult = exported) {
  const page = await browser.newPage({ viewport: { width: width + 32, height: 900 }, colorScheme: theme });
  page.on("console", (m) => {
    if (["error", "warning"].includes(m.type())) log(`console(${width},${theme}):`, m.text());
  });
  page.on("pageerror", (e) => log("page error:", e.message));
  await page.exposeFunction("hostCallTool", async (params) => {
    log("app called", params.name);
    const result = await client.callTool(params);
    report.calls.push({ name: params.name, isError: Boolean(result.isError), from: "app" });
    return result;
  });
  await page.goto(hostUrl);
  await page.evaluate(
    (opts) => window.nemoHost.start(opts),
    {
      html: app.text,
      resourceDomains: ui.csp?.resourceDomains ?? [],
      toolName,
      toolInput: {},
      toolResult,
      theme,
      width,
    },
  );
  const frame = page.frameLocator("iframe");
  await frame.locator(".track").first().waitFor({ timeout: 30_000 });
  return { page, frame };
}

async function loaded(frame) {
  const video = frame.locator("video");
  await video.evaluate((v) => new Promise((resolve, reject) => {
    if (v.readyState >= 2) return resolve();
    v.addEventListener("loadeddata", resolve, { once: true });
    v.addEventListener("error", () => reject(new Error(`video error ${v.error?.code}`)), { once: true });
  }));
  return video;
}

async function seek(page, video, seconds) {
  await video.evaluate((v, s) => new Promise((resolve) => {
    v.addEventListener("seeked", resolve, { once: true });
    v.currentTime = Math.min(s, v.duration / 3);
  }), seconds);
  await video.evaluate((v) => new Promise((resolve) => {
    const check = () => (v.readyState >= 3 ? resolve() : setTimeout(check, 50));
    check();
  }));
  await page.waitForTimeout(400);
}

async function timelineOf(frame) {
  return frame.locator("#timeline").evaluate((root) =>
    [...root.querySelectorAll(".track")].map((row) => ({
      role: row.dataset.role,
      volume: row.querySelector(".vol")?.textContent ?? null,
      clips: [...row.querySelectorAll(".clip .label")].map((c) => c.textContent),
    })),
  );
}

async function shot(page, name) {
  // as a person first sees it: the app from its top (a click may have scrolled it)
  await page.frameLocator("iframe").locator("html").evaluate((html) => html.scrollTo(0, 0));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(200);
  // and painted: two frames of the app and of the page go by first (once, on a loaded machine,
  // the light shot caught the host's background alone, the app not painted yet)
  const painted = () => new Promise((resolve) => {
    requestAnimationFrame(() => requestAnimationFrame(resolve));
    setTimeout(resolve, 2000);
  });
  await page.frameLocator("iframe").locator("html").evaluate(painted);
  await page.evaluate(painted);
  const path = join(config.out, name);
  await page.screenshot({ path, fullPage: true });
  report.screenshots.push(path);
}

let exported;
try {
  // 0. opened by nemo_get_state before exporting: the timeline, no video yet; Export in the app
  //    renders it and the player appears
  const before = await open(860, "dark", "nemo_get_state", state);
  report.beforeExport = {
    stage: await before.frame.locator("#stage").getAttribute("data-state"),
    empty: await before.frame.locator("#empty").textContent(),
    tracks: (await timelineOf(before.frame)).map((t) => t.role),
    storyboardVisible: await before.frame.locator("#storyboard").isVisible(),
  };
  await shot(before.page, "app-state.png");
  await before.frame.locator("#export").click();
  await before.frame.locator("#stage[data-state=video]").waitFor({ timeout: 120_000 });
  report.beforeExport.videoAfterExport = await (await loaded(before.frame)).evaluate((v) => v.currentSrc);
  await before.page.close();
  exported = await call("nemo_export", {}); // as a model would: the same timeline, not rendered again
  report.render = exported.structuredContent;

  // 1. opened by nemo_export, wide, dark: the video plays, the timeline reads right, the buttons
  //    reach the server
  const { page, frame } = await open(860, "dark");
  const video = await loaded(frame);
  report.video = await video.evaluate(async (v) => {
    v.muted = true;
    await v.play();
    const start = v.currentTime;
    await new Promise((resolve) => {
      const check = () => (v.currentTime > start + 0.5 ? resolve() : setTimeout(check, 50));
      check();
    });
    v.pause();
    return { src: v.currentSrc, width: v.videoWidth, height: v.videoHeight, started: start, later: v.currentTime, duration: v.duration };
  });
  report.timeline = await timelineOf(frame);
  report.storyboard = await frame.locator("#storyboard").evaluate((img) => ({
    shown: !img.hidden, width: img.naturalWidth, height: img.naturalHeight, png: img.src.startsWith("data:image/png"),
  }));
  report.credits = await frame.locator("#credits").textContent();
  // a click on a frame of the storyboard plays from there
  const layout = exported._meta?.["com.nemovideo/app"]?.storyboard;
  if (layout) {
    const n = Math.min(4, layout.times.length - 1);
    const rows = Math.ceil(layout.times.length / layout.columns);
    const img = frame.locator("#storyboard");
    const box = await img.boundingBox();
    await img.click({
      position: {
        x: ((n % layout.columns) + 0.5) * (box.width / layout.columns),
        y: (Math.floor(n / layout.columns) + 0.5) * (box.height / rows),
      },
    });
    report.storyboardSeek = { wanted: layout.times[n], at: await video.evaluate((v) => v.currentTime) };
  }
  await seek(page, video, 2);
  await shot(page, "app-dark.png");

  await frame.locator("#refresh").click();
  await page.waitForFunction(() => window.hostLog.includes("tools/call nemo_get_state"));
  await frame.locator("#ask-text").fill(config.edit);
  await frame.locator("#send").click();
  await frame.locator(".track .vol", { hasText: "60%" }).first().waitFor({ timeout: 60_000 });
  report.afterEdit = await timelineOf(frame);
  report.status = await frame.locator("#status").textContent();
  report.hostLog = await page.evaluate(() => window.hostLog);

  // 2. the same app in the light theme: the host changes it while it runs
  await page.evaluate(() => window.nemoHost.setTheme("light"));
  await frame.locator("html[data-theme=light]").waitFor();
  report.themes = {
    dark: null,
    light: await frame.locator("body").evaluate((b) => getComputedStyle(b).backgroundColor),
  };
  await page.close();
  const light = await open(860, "light");
  await seek(light.page, await loaded(light.frame), 2);
  await shot(light.page, "app-light.png");
  await light.page.close();

  // 3. narrow, 400 px, dark: nothing overflows sideways, everything is still there
  const narrow = await open(400, "dark");
  report.themes.dark = await narrow.frame.locator("body").evaluate((b) => getComputedStyle(b).backgroundColor);
  report.narrow = await narrow.frame.locator("html").evaluate((html) => ({
    scrollWidth: html.scrollWidth,
    clientWidth: html.clientWidth,
    tracks: html.querySelectorAll(".track").length,
    buttons: [...html.querySelectorAll("button")].map((b) => {
      const r = b.getBoundingClientRect();
      return { id: b.id, visible: r.width > 0 && r.right <= html.clientWidth + 1 };
    }),
  }));
  await seek(narrow.page, await loaded(narrow.frame), 2);
  await shot(narrow.page, "app-400.png");
  await narrow.page.close();
} finally {
  await browser.close();
  web.close();
  await client.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
