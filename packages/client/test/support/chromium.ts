/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
 * playwright-core (docs/decisions/0006-browser-test.md). Without it a test fails with how
 * to install it: CI must skip nothing.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const INSTALL_HINT =
  'install it with `apt-get update && apt-get install -y --no-install-recommends chromium` ' +
  '(scripts/install-test-tools.sh does this before `npm test`); never `npx playwright install`';

/** Launches Chromium; the caller closes it (t.after). Fails the test when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed (no ${CHROMIUM}): ${INSTALL_HINT}`);
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 15_000 });
  } catch (err) {
    assert.fail(`could not launch ${CHROMIUM} (${(err as Error).message.split('\n')[0]}): ${INSTALL_HINT}`);
  }
}
