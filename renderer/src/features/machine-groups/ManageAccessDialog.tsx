/**
 * Manage access: who may use the group and how (reference page, "Share a machine group").
 * Add people by searching users, as Co-owner or User; change or remove their access. Each
 * change applies at once and is confirmed by a toast.
 */
import { useEffect, useState } from 'react';
import {
  Button,
  Combobox,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Dropdown,
  Field,
  MessageBar,
  MessageBarBody,
  Option,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { PersonAddRegular } from '@fluentui/react-icons';
import type { DesktopAccessEntry, DesktopGroup, DesktopUser, SharedAccess } from '../../../../protocol/desktop-api.ts';
import { getRuntime } from '../../api/runtime.ts';
import { describeError } from '../../api/error-messages.ts';
import { useAction } from '../../app/use-action.ts';
import { useGroupsStore } from '../../stores/groups-store.ts';
import { ACCESS_LABEL } from './group-rules.ts';

const useStyles = makeStyles({
  surface: { maxWidth: '720px', width: '100%' },
  content: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  add: { display: 'grid', gridTemplateColumns: '1fr 150px auto', gap: tokens.spacingHorizontalM, alignItems: 'end' },
  accessCell: { minWidth: '150px' },
  dropdown: { minWidth: '130px' },
});

const SHARED: SharedAccess[] = ['CoOwner', 'User'];

export function ManageAccessDialog({ group, onClose }: { group: DesktopGroup; onClose: () => void }) {
  const styles = useStyles();
  const reloadGroups = useGroupsStore((s) => s.load);
  const [entries, setEntries] = useState<DesktopAccessEntry[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<DesktopUser[]>([]);
  const [searching, setSearching] = useState(false);
  const [listOpen, setListOpen] = useState(false);
  const [chosen, setChosen] = useState<DesktopUser | null>(null);
  const [access, setAccess] = useState<SharedAccess>('User');
  const action = useAction();

  useEffect(() => {
    let cancelled = false;
    getRuntime()
      .getGroupAccess({ groupId: group.id })
      .then(
        (list) => !cancelled && setEntries(list),
        (error: unknown) => !cancelled && setLoadError(describeError(error)),
      );
    return () => {
      cancelled = true;
    };
  }, [group.id]);

  useEffect(() => {
    const text = query.trim();
    if (text.length < 2 || (chosen && chosen.displayName === query)) {
      setResults([]);
      return;
    }
    let cancelled = false;
    setSearching(true);
    const timer = setTimeout(() => {
      getRuntime()
        .searchUsers({ query: text })
        .then(
          (users) => {
            if (cancelled) return;
            setResults(users);
            setListOpen(users.length > 0);
          },
          () => !cancelled && setResults([]),
        )
        .finally(() => !cancelled && setSearching(false));
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query, chosen]);

  const apply = async (change: () => Promise<DesktopAccessEntry[]>, success: string) => {
    const outcome = await action.run(change, { success, failure: 'Could not change the access' });
    if (outcome.ok) {
      setEntries(outcome.result);
      void reloadGroups();
    }
    return outcome.ok;
  };

  const add = async () => {
    if (!chosen) return;
    const ok = await apply(
      () => getRuntime().shareGroup({ groupId: group.id, userId: chosen.id, access }),
      `${chosen.displayName} now has ${ACCESS_LABEL[access]} access`,
    );
    if (ok) {
      setChosen(null);
      setQuery('');
    }
  };

  const existing = new Set(entries?.map((e) => e.user.id));
  const options = results.filter((user) => !existing.has(user.id));

  return (
    <Dialog open modalType="modal" onOpenChange={(_e, data) => !data.open && onClose()}>
      <DialogSurface className={styles.surface}>
        <DialogBody>
          <DialogTitle>Manage access: {group.name}</DialogTitle>
          <DialogContent className={styles.content}>
            <div className={styles.add}>
              <Field label="Add people">
                <Combobox
                  freeform
                  open={listOpen}
                  onOpenChange={(_e, data) => setListOpen(data.open)}
                  placeholder="Search by name or email"
                  value={query}
                  onChange={(event) => {
                    setQuery(event.target.value);
                    setChosen(null);
                  }}
                  onOptionSelect={(_e, data) => {
                    const user = options.find((u) => u.id === data.optionValue) ?? null;
                    setChosen(user);
                    setQuery(user?.displayName ?? '');
                  }}
                >
                  {searching && options.length === 0 ? (
                    <Option disabled value="" text="Searching…">
                      Searching…
                    </Option>
                  ) : (
                    options.map((user) => (
                      <Option key={user.id} value={user.id} text={user.displayName}>
                        {user.displayName} ({user.email})
                      </Option>
                    ))
                  )}
                </Combobox>
              </Field>
              <Field label="Access">
                <Dropdown
                  className={styles.dropdown}
                  value={ACCESS_LABEL[access]}
                  selectedOptions={[access]}
                  onOptionSelect={(_e, data) => data.optionValue && setAccess(data.optionValue as SharedAccess)}
                >
                  {SHARED.map((level) => (
                    <Option key={level} value={level}>
                      {ACCESS_LABEL[level]}
                    </Option>
                  ))}
                </Dropdown>
              </Field>
              <Button icon={<PersonAddRegular />} appearance="primary" onClick={add} disabled={!chosen || action.busy}>
                Add
              </Button>
            </div>
            {action.busy && <Spinner size="tiny" label="Saving…" />}
            {(loadError ?? action.failure) && (
              <MessageBar intent="error" role="alert">
                <MessageBarBody>{loadError ?? action.failure?.message}</MessageBarBody>
              </MessageBar>
            )}
            {!entries && !loadError && <Spinner size="small" label="Loading access…" />}
            {entries && (
              <Table aria-label={`People with access to ${group.name}`} size="small">
                <TableHeader>
                  <TableRow>
                    <TableHeaderCell>Name</TableHeaderCell>
                    <TableHeaderCell>Email</TableHeaderCell>
                    <TableHeaderCell className={styles.accessCell}>Access</TableHeaderCell>
                    <TableHeaderCell>
                      <span className="visually-hidden">Remove</span>
                    </TableHeaderCell>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {entries.map((entry) => (
                    <TableRow key={entry.user.id}>
                      <TableCell>{entry.user.displayName}</TableCell>
                      <TableCell>{entry.user.email}</TableCell>
                      <TableCell className={styles.accessCell}>
                        {entry.access === 'Owner' ? (
                          'Owner'
                        ) : (
                          <Dropdown
                            className={styles.dropdown}
                            aria-label={`Access for ${entry.user.displayName}`}
                            value={ACCESS_LABEL[entry.access]}
                            selectedOptions={[entry.access]}
                            disabled={action.busy}
                            onOptionSelect={(_e, data) => {
                              const level = data.optionValue as SharedAccess | undefined;
                              if (level && level !== entry.access) {
                                void apply(
                                  () => getRuntime().shareGroup({ groupId: group.id, userId: entry.user.id, access: level }),
                                  `${entry.user.displayName} now has ${ACCESS_LABEL[level]} access`,
                                );
                              }
                            }}
                          >
                            {SHARED.map((level) => (
                              <Option key={level} value={level}>
                                {ACCESS_LABEL[level]}
                              </Option>
                            ))}
                          </Dropdown>
                        )}
                      </TableCell>
                      <TableCell>
                        {entry.access !== 'Owner' && (
                          <Button
                            appearance="subtle"
                            disabledFocusable={action.busy}
                            aria-label={`Remove ${entry.user.displayName}`}
                            onClick={() =>
                              void apply(
                                () => getRuntime().unshareGroup({ groupId: group.id, userId: entry.user.id }),
                                `${entry.user.displayName} no longer has access`,
                              )
                            }
                          >
                            Remove
                          </Button>
                        )}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            )}
          </DialogContent>
          <DialogActions>
            <Button appearance="secondary" onClick={onClose}>
              Close
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
