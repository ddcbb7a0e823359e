// Build the NemoVideo MCP App into ONE self-contained HTML file (script and styles inline, no
// fetch at run time), committed inside the Python package so that installing nemo-mcp needs no
// Node.js. The build is deterministic: the test suite rebuilds it and compares.
//
//   node build.mjs                 -> ../src/nemo_mcp/assets/app.html
//   node build.mjs --out FILE      -> FILE (what the up-to-date check does)
//   node build.mjs --host DIR      -> DIR/host.html: the browser test's host page (not shipped)

import { build } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

async function bundle(entry) {
  const out = await build({
    entryPoints: [join(here, entry)],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "warning",
  });
  // an inline script ends at the first "</script": never let one appear inside it
  return out.outputFiles[0].text.replaceAll("</script", "<\\/script");
}

async function page(template, styles, script) {
  const html = await readFile(join(here, template), "utf8");
  const css = styles ? await readFile(join(here, styles), "utf8") : "";
  return html
    .replace("/*STYLES*/", () => css.trim())
    .replace("/*SCRIPT*/", () => script.trim());
}

async function save(file, text) {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text, "utf8");
  console.error(`wrote ${file} (${Buffer.byteLength(text)} bytes)`);
}

const hostDir = option("--host");
if (hostDir) {
  const script = await bundle("host/host.ts");
  await save(join(resolve(hostDir), "host.html"), await page("host/host.html", null, script));
} else {
  const file = resolve(option("--out") ?? join(here, "..", "src", "nemo_mcp", "assets", "app.html"));
  await save(file, await page("src/index.html", "src/app.css", await bundle("src/main.ts")));
}
