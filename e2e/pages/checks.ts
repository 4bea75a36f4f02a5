/**
 * What every screen gets: an accessibility scan (axe-core; no serious or critical violation)
 * and a screenshot under e2e/screenshots/ (git-ignored).
 */
import { AxeBuilder } from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCREENSHOT_DIR = fileURLToPath(new URL('../screenshots/', import.meta.url));

/**
 * Fluent UI's focus management (tabster) puts `<i tabindex="0" aria-hidden="true"
 * data-tabster-dummy>` sentinels around dialogs, menus and toasts; they hand focus on at once and
 * are hidden from screen readers on purpose. axe flags them as aria-hidden-focus: a known false
 * positive that Accessibility Insights suppresses the same way (microsoft/tabster#288,
 * microsoft/accessibility-insights-web#7605). Only those nodes are dropped, never the rule.
 */
function isTabsterDummy(rule: string, html: string): boolean {
  return rule === 'aria-hidden-focus' && /^<i\b[^>]*\bdata-tabster-dummy\b/.test(html);
}

/** Scans the page as it is now; fails with the rules, targets and help text of each violation. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  // Let Fluent's enter animations finish: mid-animation opacity makes contrast checks flaky.
  await page.waitForTimeout(350);
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ ...v, nodes: v.nodes.filter((node) => !isTabsterDummy(v.id, node.html)) }))
    .filter((v) => v.nodes.length > 0)
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
  expect(serious, `accessibility violations on ${screen}`).toEqual([]);
}

/** A full-window screenshot of the current screen; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.waitForTimeout(250);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  return file;
}

/** Both, for a screen as a person sees it. */
export async function checkScreen(page: Page, name: string): Promise<string> {
  await expectAccessible(page, name);
  return screenshot(page, name);
}
