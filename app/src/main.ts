// The NemoVideo MCP App: the exported video in a player, the timeline as tracks of labelled clips
// on a time ruler, the storyboard, the credits left, and buttons that call the server's tools
// through the host (export, ask for an edit, refresh). It follows the host's theme and size.
//
// It is fed tool results by the host (nemo_export, nemo_get_state, nemo_wait): their structured
// content (a render or a state), their images (the poster JPEG and the storyboard PNG) and, for
// hosts with Apps, the timeline as clips in _meta["com.nemovideo/app"].

import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
} from "@modelcontextprotocol/ext-apps";
import { clock, drawTimeline, movePlayhead, type TimelineData, timelineDuration } from "./timeline";

const APP_META = "com.nemovideo/app";

type Block = { type: string; text?: string; data?: string; mimeType?: string };
type Result = {
  content?: Block[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const player = $<HTMLVideoElement>("player");
const stage = $<HTMLElement>("stage");
const empty = $<HTMLElement>("empty");
const lanes = $<HTMLElement>("timeline");
const board = $<HTMLImageElement>("storyboard");
const status = $<HTMLElement>("status");
const credits = $<HTMLElement>("credits");
const facts = $<HTMLElement>("facts");
const askInput = $<HTMLInputElement>("ask-text");

let timeline: TimelineData = { tracks: [] };
let sheet: { times: number[]; columns: number } | undefined;
let playhead: HTMLElement | null = null;
let sessionId: string | undefined;
let busy = false;

const app = new App({ name: "NemoVideo", version: "1.0.0" }, {}, { autoResize: true });

function say(text: string, kind: "info" | "error" | "busy" = "info"): void {
  status.textContent = text;
  status.dataset.kind = kind;
}

function image(result: Result, mime: string): string | undefined {
  const block = result.content?.find((b) => b.type === "image" && b.mimeType === mime);
  return block?.data ? `data:${mime};base64,${block.data}` : undefined;
}

function text(result: Result): string {
  return (result.content ?? [])
    .filter((b) => b.type === "text" && b.text)
    .map((b) => b.text)
    .join("\n");
}

function redraw(): void {
  playhead = drawTimeline(lanes, timeline, (s) => {
    if (player.src) player.currentTime = s;
  });
  movePlayhead(lanes, playhead, player.currentTime || 0, timelineDuration(timeline));
}

function showFacts(data: Record<string, unknown>): void {
  const parts: string[] = [];
  if (data.width && data.height) parts.push(`${data.width}×${data.height}`);
  const seconds = Number(data.duration_s ?? 0);
  if (seconds) parts.push(clock(seconds, seconds < 60));
  if (data.size_bytes) parts.push(`${(Number(data.size_bytes) / 1e6).toFixed(1)} MB`);
  facts.textContent = parts.join(" · ");
}

function showCredits(data: Record<string, unknown> | undefined): void {
  if (!data || typeof data.available !== "number") return;
  credits.textContent = `${Math.floor(data.available).toLocaleString()} credits`;
  credits.hidden = false;
}

function showRender(render: Record<string, unknown>, result: Result): void {
  const url = typeof render.url === "string" ? render.url : undefined;
  if (render.done && url && player.src !== url) {
    const poster = image(result, "image/jpeg");
    if (poster) player.poster = poster;
    player.src = url;
    stage.dataset.state = "video";
  }
  const sheet = image(result, "image/png");
  if (sheet) {
    board.src = sheet;
    board.hidden = false;
  }
  showFacts(render);
  if (render.error) say(String(render.error), "error");
  else if (!render.done) say(`Rendering… ${Math.round(Number(render.progress ?? 0))}%`, "busy");
  else say(render.reused ? "Exported (this timeline was exported before)." : "Exported.");
}

/** Take in any result the host gives or a button gets back. */
function show(result: Result): void {
  if (result.isError) {
    say(text(result) || "That did not work.", "error");
    return;
  }
  const data = result.structuredContent ?? {};
  const clips = result._meta?.[APP_META] as
    | (TimelineData & { session_id?: string; storyboard?: typeof sheet })
    | undefined;
  if (clips?.storyboard?.times?.length) sheet = clips.storyboard;
  if (clips?.tracks) {
    timeline = clips;
    sessionId = clips.session_id ?? sessionId;
    redraw();
  } else if (Array.isArray(data.tracks)) {
    // a host that passed no _meta: each track as one block
    timeline = {
      duration_s: Number(data.duration_s ?? 0),
      tracks: (data.tracks as Record<string, unknown>[]).map((t) => ({
        role: String(t.kind),
        kind: String(t.kind),
        volume_pct: t.volume_pct as number | null,
        clips: [{ start_s: Number(t.start_s), end_s: Number(t.end_s), label: String(t.label) }],
      })),
    };
    redraw();
  }
  if (typeof data.session_id === "string") sessionId = data.session_id;
  const render = (data.render ?? (data.render_id ? data : undefined)) as Record<string, unknown> | undefined;
  if (render) showRender(render, result);
  else if (Array.isArray(data.tracks)) {
    showFacts(data);
    if (!player.src) {
      stage.dataset.state = "empty";
      empty.textContent =
        data.export_ready === false ? "Nothing to export yet." : "Not exported yet: press Export.";
    }
    say(data.export_ready ? "Ready to export." : "Timeline shown.");
  }
  showCredits((data.credits ?? (data.render as Record<string, unknown>)?.credits) as Record<string, unknown>);
}

async function call(name: string, args: Record<string, unknown>, note: string): Promise<Result | undefined> {
  if (busy) return undefined;
  busy = true;
  document.body.dataset.busy = "true";
  say(note, "busy");
  try {
    const result = (await app.callServerTool({ name, arguments: args })) as Result;
    show(result);
    return result;
  } catch (err) {
    say(`The host could not reach NemoVideo: ${(err as Error).message}`, "error");
    return undefined;
  } finally {
    busy = false;
    delete document.body.dataset.busy;
  }
}

const scope = () => (sessionId ? { session_id: sessionId } : {});

async function refreshCredits(): Promise<void> {
  try {
    const result = (await app.callServerTool({ name: "nemo_get_credits", arguments: {} })) as Result;
    if (!result.isError) showCredits(result.structuredContent);
  } catch {
    /* credits are a nicety */
  }
}

$("export").addEventListener("click", () => {
  void call("nemo_export", scope(), "Rendering and downloading…");
});
$("refresh").addEventListener("click", async () => {
  await call("nemo_get_state", scope(), "Reading the timeline…");
  await refreshCredits();
});
// no <form>: a host's sandbox may forbid form submission
async function ask(): Promise<void> {
  const message = askInput.value.trim();
  if (!message) {
    say("Say what to change, e.g. add a title “Summer” from 0 to 3 seconds.", "error");
    return;
  }
  const result = await call("nemo_chat", { message, ...scope() }, "NemoVideo is editing…");
  if (result && !result.isError) {
    askInput.value = "";
    const reply = text(result).split("\n").filter((l) => l.startsWith("> ")).map((l) => l.slice(2));
    await call("nemo_get_state", scope(), "Reading the timeline…");
    say(reply.length ? `NemoVideo: ${reply.join(" ")}` : "Edited. Export to see it.");
    await refreshCredits();
  }
}
$("send").addEventListener("click", () => void ask());
askInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing) void ask();
});

// a click on a frame of the storyboard plays from that frame
board.addEventListener("click", (event) => {
  if (!sheet || !player.src) return;
  const box = board.getBoundingClientRect();
  const rows = Math.ceil(sheet.times.length / sheet.columns);
  const col = Math.min(sheet.columns - 1, Math.floor(((event.clientX - box.left) / box.width) * sheet.columns));
  const row = Math.min(rows - 1, Math.floor(((event.clientY - box.top) / box.height) * rows));
  const at = sheet.times[row * sheet.columns + col];
  if (at !== undefined) player.currentTime = at;
});

player.addEventListener("timeupdate", () => {
  if (playhead) movePlayhead(lanes, playhead, player.currentTime, timelineDuration(timeline));
});
player.addEventListener("loadedmetadata", () => {
  stage.style.setProperty("--ratio", `${player.videoWidth} / ${player.videoHeight}`);
});
new ResizeObserver(() => redraw()).observe(lanes);

function applyContext(ctx: McpUiHostContext | undefined): void {
  if (!ctx) return;
  if (ctx.theme) applyDocumentTheme(ctx.theme);
  if (ctx.styles?.variables) applyHostStyleVariables(ctx.styles.variables);
  if (ctx.styles?.css?.fonts) applyHostFonts(ctx.styles.css.fonts);
}

app.ontoolresult = (params) => {
  show(params as Result);
  void refreshCredits();
};
app.ontoolinput = () => say("Working…", "busy");
app.ontoolcancelled = () => say("Cancelled.");
app.onhostcontextchanged = (ctx) => applyContext(ctx);
app.onteardown = async () => ({});

redraw();
void app.connect().then(() => applyContext(app.getHostContext()));
