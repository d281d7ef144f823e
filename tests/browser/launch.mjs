// How every browser suite launches Debian's chromium: headless, quiet, and unable to resolve any
// host but loopback, so a page that needs anything from elsewhere fails visibly. No import of its
// own: each suite passes its own playwright-core's `chromium`.
//
// Usage: import { launchLoopbackChromium } from "../browser/launch.mjs";
//        const browser = await launchLoopbackChromium(chromium);
export function launchLoopbackChromium(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    timeout: 60_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
  });
}
