/**
 * The two message regions every screen shares: a polite status (role=status) for what an action did, and an alert
 * (role=alert) for what went wrong. One of each in the page, so that a reader — or a test — finds exactly one.
 */
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useMemo, useState } from 'preact/hooks';

interface Message {
  text: string;
  /** a new node for each message, so that saying the same thing twice is announced twice */
  serial: number;
}

export interface Messages {
  status: Message;
  alert: Message;
  /** an outcome: "Profile deleted" (clears the alert) */
  say(text: string): void;
  /** an error (clears the status) */
  warn(text: string): void;
  clear(): void;
}

const empty: Message = { text: '', serial: 0 };
const MessagesContext = createContext<Messages | null>(null);

export function MessagesProvider({ children }: { children: ComponentChildren }) {
  const [state, setState] = useState({ status: empty, alert: empty, serial: 0 });
  const say = useCallback((text: string) => setState((s) => ({ status: { text, serial: s.serial + 1 }, alert: empty, serial: s.serial + 1 })), []);
  const warn = useCallback((text: string) => setState((s) => ({ status: empty, alert: { text, serial: s.serial + 1 }, serial: s.serial + 1 })), []);
  const clear = useCallback(() => setState((s) => (s.status.text === '' && s.alert.text === '' ? s : { status: empty, alert: empty, serial: s.serial })), []);
  const value = useMemo(() => ({ status: state.status, alert: state.alert, say, warn, clear }), [state, say, warn, clear]);
  return <MessagesContext.Provider value={value}>{children}</MessagesContext.Provider>;
}

export function useMessages(): Messages {
  const messages = useContext(MessagesContext);
  if (!messages) throw new Error('useMessages outside MessagesProvider');
  return messages;
}

/** The regions themselves; present (empty) before anything is said, as live regions must be. */
export function MessageRegions() {
  const { status, alert } = useMessages();
  return (
    <div class="messages">
      <div role="status" aria-live="polite" class="message message-status">
        {status.text !== '' && <p key={status.serial}>{status.text}</p>}
      </div>
      <div role="alert" class="message message-alert">
        {alert.text !== '' && <p key={alert.serial}>{alert.text}</p>}
      </div>
    </div>
  );
}
