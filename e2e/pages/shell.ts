/** The window around every screen: navigation, the signed-in account, toasts. */
import { expect, type Locator, type Page } from '@playwright/test';

export type Section = 'Account' | 'Machine settings' | 'Machine groups' | 'Troubleshoot';

export class AppShell {
  constructor(readonly page: Page) {}

  get nav(): Locator {
    return this.page.getByRole('navigation', { name: 'Main' });
  }

  async goTo(section: Section): Promise<void> {
    await this.nav.getByRole('button', { name: section }).click();
    await expect(this.page.getByRole('heading', { level: 1 })).toHaveText(section === 'Account' ? /Sign in|Set up this server/ : section);
  }

  /** A toast (or any live message) with this text appears. */
  async expectToast(text: string | RegExp): Promise<void> {
    await expect(this.page.getByText(text).first()).toBeVisible();
  }

  async expectSignedInAs(email: string): Promise<void> {
    await expect(this.page.getByRole('banner').getByText(email)).toBeVisible();
  }

  async signOut(): Promise<void> {
    await this.page.getByRole('button', { name: 'Sign out' }).click();
    await expect(this.page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
  }
}
