// The timeline as a person reads an editor's: a time ruler, then one lane per track (video,
// music, voice, titles) holding its clips as labelled blocks at their times, with volumes.
// Every word shown comes from the project (untrusted): it is set as text, never as HTML.

export interface Clip {
  start_s: number;
  end_s: number;
  label?: string | null;
  volume_pct?: number | null;
}

export interface Track {
  role: string;
  kind: string;
  volume_pct?: number | null;
  clips: Clip[];
}

export interface TimelineData {
  duration_s?: number | null;
  tracks: Track[];
}

const STEPS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

export function clock(seconds: number, fine = false): string {
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  const whole = Math.floor(s);
  const tenths = Math.round((s - whole) * 10);
  const ss = String(whole).padStart(2, "0");
  return fine && tenths ? `${m}:${ss}.${tenths}` : `${m}:${ss}`;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A family of colours per kind of track: what the eye sorts by first. */
export function family(track: Track): string {
  const word = `${track.role} ${track.kind}`.toLowerCase();
  if (/voice|narrat|speech/.test(word)) return "voice";
  if (/bgm|music|audio|sfx|sound/.test(word)) return "audio";
  if (/title|text|caption|subtitle/.test(word)) return "text";
  if (/image|photo|graphic|sticker/.test(word)) return "image";
  if (/effect|transition|filter/.test(word)) return "effect";
  return "video";
}

function tickStep(duration: number, width: number): number {
  const wanted = duration / Math.max(2, Math.floor(width / 70));
  return STEPS.find((s) => s >= wanted) ?? STEPS[STEPS.length - 1];
}

function percent(value: number, duration: number): string {
  return `${Math.max(0, Math.min(100, (value / duration) * 100))}%`;
}

export function timelineDuration(data: TimelineData): number {
  const ends = data.tracks.flatMap((t) => t.clips.map((c) => c.end_s));
  return Math.max(data.duration_s ?? 0, ...ends, 0.1);
}

/** Draw ``data`` into ``root`` (replacing what was there); returns the playhead to move. */
export function drawTimeline(
  root: HTMLElement,
  data: TimelineData,
  onSeek: (seconds: number) => void,
): HTMLElement {
  root.replaceChildren();
  const duration = timelineDuration(data);
  const fine = duration < 60;

  const ruler = el("div", "row ruler");
  ruler.append(el("div", "head", clock(duration, fine)));
  const scale = el("div", "lane scale");
  const step = tickStep(duration, root.clientWidth || 600);
  for (let t = 0; t <= duration + 1e-6; t += step) {
    const tick = el("span", "tick", clock(t, step < 1));
    tick.style.left = percent(t, duration);
    scale.append(tick);
  }
  ruler.append(scale);
  root.append(ruler);

  if (!data.tracks.length) {
    root.append(el("p", "none", "The timeline is empty: ask for a video below."));
  }
  for (const track of data.tracks) {
    const kind = family(track);
    const row = el("div", `row track ${kind}`);
    row.dataset.role = track.role;
    const head = el("div", "head");
    head.append(el("span", "role", track.role));
    if (track.volume_pct != null) head.append(el("span", "vol", `${Math.round(track.volume_pct)}%`));
    row.append(head);
    const lane = el("div", "lane");
    for (const clip of track.clips) {
      const block = el("div", "clip");
      block.style.left = percent(clip.start_s, duration);
      block.style.width = percent(Math.max(clip.end_s - clip.start_s, duration / 400), duration);
      const range = `${clock(clip.start_s, fine)}–${clock(clip.end_s, fine)}`;
      const volume = clip.volume_pct != null ? ` · ${Math.round(clip.volume_pct)}%` : "";
      const label = clip.label || track.role;
      block.title = `${label} (${range}${volume})`;
      block.append(el("span", "label", label), el("span", "time", range + volume));
      lane.append(block);
    }
    lane.addEventListener("click", (event) => {
      const box = lane.getBoundingClientRect();
      onSeek(((event.clientX - box.left) / box.width) * duration);
    });
    row.append(lane);
    root.append(row);
  }
  const playhead = el("div", "playhead");
  root.append(playhead);
  return playhead;
}

/** Put the playhead at ``seconds`` (it spans the lanes, right of the track names). */
export function movePlayhead(root: HTMLElement, playhead: HTMLElement, seconds: number, duration: number): void {
  const lane = root.querySelector<HTMLElement>(".lane");
  if (!lane) return;
  const x = lane.offsetLeft + (Math.min(seconds, duration) / duration) * lane.clientWidth;
  playhead.style.transform = `translateX(${x}px)`;
}
