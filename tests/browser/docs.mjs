// The /docs page in a real browser: Debian's chromium, headless, driven by playwright-core.
// Every operation of the served OpenAPI document must render, "Try it out" + "Execute" on
// GET /health must show a 200, the page must break no rule of its Content-Security-Policy, and
// no request may leave loopback.
//
// Usage: BASE_URL=http://127.0.0.1:PORT node tests/browser/docs.mjs   (tests/browser/run.sh)
import { chromium } from "playwright-core";
import { launchLoopbackChromium } from "./launch.mjs";

const base = process.env.BASE_URL;
const screenshot = process.env.SCREENSHOT;
const failures = [];

const browser = await launchLoopbackChromium(chromium);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const messages = [];
  const offsite = [];
  page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => messages.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.hostname !== "127.0.0.1") offsite.push(request.url());
  });
  // Added through the DevTools protocol, so the page's own policy does not apply to it.
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (event) =>
      window.__violations.push(`${event.effectiveDirective} refused ${event.blockedURI || "inline"}`),
    );
  });

  const document = await (await fetch(`${base}/openapi.json`)).json();
  const methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
  const expected = Object.entries(document.paths)
    .flatMap(([path, item]) => Object.keys(item).filter((m) => methods.includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();

  const response = await page.goto(`${base}/docs`, { waitUntil: "load" });
  if (response.status() !== 200) failures.push(`/docs answered ${response.status()}`);
  if (!response.headers()["content-security-policy"]) failures.push("/docs has no Content-Security-Policy");

  await page.waitForFunction(
    (count) => document.querySelectorAll("#swagger-ui .opblock").length >= count,
    expected.length,
    { timeout: 30_000 },
  );
  const rendered = (
    await page.$$eval("#swagger-ui .opblock", (blocks) =>
      blocks.map(
        (block) =>
          `${block.querySelector(".opblock-summary-method")?.textContent.trim()} ${block
            .querySelector(".opblock-summary-path")
            ?.getAttribute("data-path")}`,
      ),
    )
  ).sort();
  if (JSON.stringify(rendered) !== JSON.stringify(expected)) {
    failures.push(`rendered operations differ:\n  expected ${expected.join(", ")}\n  rendered ${rendered.join(", ")}`);
  }
  console.log(`docs: ${rendered.length} operations rendered`);

  const health = page
    .locator("#swagger-ui .opblock.opblock-get")
    .filter({ has: page.locator('.opblock-summary-path[data-path="/health"]') });
  await health.locator(".opblock-summary-control").click();
  await health.locator("button.try-out__btn").click();
  await health.locator("button.execute").click();
  const status = health.locator(".live-responses-table .response .response-col_status");
  await status.waitFor({ timeout: 30_000 });
  const shown = (await status.innerText()).trim();
  console.log(`docs: Try it out on GET /health shows ${shown}`);
  if (!/^200\b/.test(shown)) failures.push(`Try it out on GET /health shows ${shown}, not 200`);

  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const violations = await page.evaluate(() => window.__violations);
  const refused = messages.filter((message) => /Content Security Policy|Refused to/i.test(message));
  if (violations.length || refused.length) failures.push(`CSP violations:\n  ${[...violations, ...refused].join("\n  ")}`);
  if (offsite.length) failures.push(`requests left loopback: ${offsite.join(", ")}`);
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`docs: FAILED\n${failures.join("\n")}`);
  process.exit(1);
}
console.log("docs: ok");
