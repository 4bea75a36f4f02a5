/** Machine settings: register this machine, then its connection and details. */
import { expect, type Page } from '@playwright/test';

export class MachineSettingsPage {
  constructor(readonly page: Page) {}

  async expectNotRegistered(): Promise<void> {
    await expect(this.page.getByRole('heading', { level: 1, name: 'Machine settings' })).toBeVisible();
    await expect(this.page.getByText("Machine isn't registered")).toBeVisible();
  }

  async register(name: string, description = ''): Promise<void> {
    await this.expectNotRegistered();
    const form = this.page.getByRole('form', { name: 'Register this machine' });
    await expect(form.getByRole('combobox', { name: 'Machine environment' })).toHaveText(/Default/);
    await form.getByRole('textbox', { name: 'Machine name' }).fill(name);
    if (description) await form.getByRole('textbox', { name: 'Machine description' }).fill(description);
    await form.getByRole('button', { name: 'Register' }).click();
    await expect(this.page.getByText('Your machine has been registered.')).toBeVisible();
  }

  async expectConnection(state: 'Online' | 'Offline' | 'Connecting…'): Promise<void> {
    const term = this.page.getByRole('term').filter({ hasText: 'Connection state' });
    await expect(term.locator('xpath=following-sibling::dd[1]')).toHaveText(state);
  }

  async expectHeartbeat(): Promise<void> {
    const term = this.page.getByRole('term').filter({ hasText: 'Last heartbeat' });
    await expect(term.locator('xpath=following-sibling::dd[1]')).not.toHaveText('Never');
  }

  async expectGroup(name: string): Promise<void> {
    const term = this.page.getByRole('term').filter({ hasText: 'Machine group' });
    await expect(term.locator('xpath=following-sibling::dd[1]')).toHaveText(name);
  }
}
