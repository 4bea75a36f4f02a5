/** The machine groups the user can see, and the search that filters them. */
import { create } from 'zustand';
import type { DesktopGroup } from '../../../protocol/desktop-api.ts';
import { getRuntime } from '../api/runtime.ts';
import { describeError } from '../api/error-messages.ts';

interface GroupsStore {
  groups: DesktopGroup[];
  status: 'idle' | 'loading' | 'ready' | 'error';
  error: string | null;
  query: string;
  setQuery(query: string): void;
  load(): Promise<void>;
  upsert(group: DesktopGroup): void;
  remove(groupId: string): void;
  clear(): void;
}

export const useGroupsStore = create<GroupsStore>()((set, get) => ({
  groups: [],
  status: 'idle',
  error: null,
  query: '',
  setQuery: (query) => set({ query }),
  load: async () => {
    set({ status: get().groups.length ? 'ready' : 'loading', error: null });
    try {
      const groups = await getRuntime().listGroups();
      set({ groups, status: 'ready' });
    } catch (error) {
      set({ status: 'error', error: describeError(error) });
    }
  },
  upsert: (group) => {
    const groups = get().groups;
    const index = groups.findIndex((g) => g.id === group.id);
    set({ groups: index === -1 ? [...groups, group] : groups.map((g, i) => (i === index ? group : g)) });
  },
  remove: (groupId) => set({ groups: get().groups.filter((g) => g.id !== groupId) }),
  clear: () => set({ groups: [], status: 'idle', error: null, query: '' }),
}));

/** Groups whose name, description or owner contains every word of the query. */
export function filterGroups(groups: readonly DesktopGroup[], query: string): readonly DesktopGroup[] {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return groups;
  return groups.filter((group) => {
    const text = `${group.name}\n${group.description}\n${group.owner.displayName}`.toLocaleLowerCase();
    return words.every((word) => text.includes(word));
  });
}
